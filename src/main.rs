//! The `msgstore` binary: parse, run, exit with the status. Nothing else.

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    msgstore::db::install_panic_hook();
    let cli = msgstore::cli::Cli::parse();
    let status = match cli.command {
        Some(cmd) => {
            msgstore::commands::run(&msgstore::commands::Ctx::new(&cli.global, false), cmd)
        }
        None => msgstore::prompt::run(&cli.global),
    };
    std::process::exit(status);
}
