//! Data flows one way: each module uses only the layers below its own (src/lib.rs
//! lists them). This reads every source file and fails on a reference to a module
//! of the same or a higher layer, so a shortcut upwards cannot creep in unseen.
//! The front ends (the command line and the server) sit together on top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer, lowest first.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("faults", 1),
    ("message", 1),
    ("mime", 1),
    ("uidset", 1),
    ("sample", 1),
    ("store", 2),
    ("dbfile", 3),
    ("db", 4),
    ("index", 4),
    ("mailfmt", 4),
    ("reconstruct", 5),
    ("ops", 6),
    ("output", 7),
    ("cli", 7),
    ("commands", 7),
    ("prompt", 7),
    ("server", 7),
];
const FRONT_ENDS: u32 = 7;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The modules `crate::` paths in `src` name: `use crate::a::b`, `crate::a::f()`,
/// and the groups of `use crate::{a, b::c}`.
fn referenced(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for piece in src.split("crate::").skip(1) {
        if let Some(group) = piece.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name = ident(piece);
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut errors = Vec::new();
    let mut seen_modules = std::collections::BTreeSet::new();
    for f in &all {
        let rel = f.strip_prefix(&root).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        seen_modules.insert(top.clone());
        let Some(&mine) = layer.get(top.as_str()) else {
            errors.push(format!(
                "src/{}: module `{top}` has no layer in tests/architecture.rs",
                rel.display()
            ));
            continue;
        };
        let src = std::fs::read_to_string(f).unwrap();
        // Tests inside a module may reach anywhere.
        let src = src.split("#[cfg(test)]").next().unwrap_or("");
        for used in referenced(src) {
            if used == top || used == "self" || used == "super" {
                continue;
            }
            let Some(&theirs) = layer.get(used.as_str()) else {
                continue;
            };
            let fine = theirs < mine || (mine == FRONT_ENDS && theirs == FRONT_ENDS);
            if !fine {
                errors.push(format!(
                    "src/{}: `{top}` (layer {mine}) uses `{used}` (layer {theirs})",
                    rel.display()
                ));
            }
        }
    }
    for (m, _) in LAYERS {
        if !seen_modules.contains(*m) && !["mailfmt", "server"].contains(m) {
            errors.push(format!("module `{m}` is in the table but not in src/"));
        }
    }
    assert!(
        errors.is_empty(),
        "data must flow one way (front ends -> ops -> reconstruct -> db/index -> dbfile -> store -> pure modules):\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn the_reference_finder_sees_groups_and_paths() {
    let src =
        "use crate::store::{self};\nuse crate::{db, index::Index};\nlet x = crate::ops::open(1);";
    assert_eq!(referenced(src), vec!["store", "db", "index", "ops"]);
}
