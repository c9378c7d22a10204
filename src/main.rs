//! The `msgstore` binary: parse, run, exit with the status. Nothing else.

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    msgstore::dbfile::install_panic_hook();
    // Parsed as the OS gave them: a name that is not UTF-8 is refused by clap, a
    // file path need not be UTF-8. The lossy copy is only for messages.
    let os_args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args: Vec<String> = os_args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match msgstore::cli::Cli::try_parse_from(&os_args) {
        Ok(cli) => cli,
        Err(e) => {
            let json = args.iter().skip(1).any(|a| a == "--json");
            let status = msgstore::commands::refused(&e, &args, json);
            std::process::exit(status.code());
        }
    };
    let status = match cli.command {
        Some(cmd) => {
            let from_prompt = std::env::var_os(msgstore::prompt::FROM_PROMPT).is_some();
            msgstore::commands::run(&msgstore::commands::Ctx::new(&cli.global, from_prompt), cmd)
        }
        None => msgstore::prompt::run(&cli.global),
    };
    std::process::exit(status.code());
}

/// A run is short and its memory is touched once: with huge pages, every region
/// the allocator asks for is faulted in (and zeroed by the kernel) 2 MiB at a time,
/// however little of it is used. Disabled, a full rebuild of 20,000 messages
/// peaked at 27 MiB instead of 40 and used 3% less CPU (21 alternating runs).
///
/// It runs as a constructor, before `main`: the runtime allocates before `main`
/// starts, and mimalloc's first region, faulted in then, was two huge pages (4 MiB
/// zeroed, 8% of a `--quick` run over 20,000 messages).
#[cfg(target_os = "linux")]
extern "C" fn no_transparent_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes integer arguments only and
    // changes nothing but this process's huge-page policy; failure is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static NO_THP_BEFORE_MAIN: extern "C" fn() = no_transparent_huge_pages;
