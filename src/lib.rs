//! NewsRead: a news reader that runs from one SQLite file on a laptop up to a three-tier
//! deployment (load balancer, stateless instances, primary and replica database).
//!
//! Layers, inside out: [`domain`] (validated types), [`storage`] (all SQL), [`ingest`]
//! (getting news in), [`web`] (HTTP), with [`config`] and [`app`] wiring them together.
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
/// Entry points for the fuzz targets (`fuzz/`) and their regression tests; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod media;
pub mod password;
pub mod secret;
pub mod secrets;
pub mod seed;
pub mod storage;
pub mod telemetry;
pub mod web;

/// Lower-case hex of `bytes` (digests, ids), without a formatter call per byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The layers, bottom up: a module may use modules of lower layers only, so the
    /// dependency graph has no cycles and reads one way (web and ingest over storage over
    /// domain; configuration read at the edge and handed down).
    const LAYERS: &[&[&str]] = &[
        &["secret", "clock"],
        &["domain", "password", "media"],
        &["storage"],
        &["config"],
        &["telemetry", "secrets", "seed"],
        &["web", "ingest"],
        &["app", "fuzzing"],
        &["cli"],
    ];

    /// The top-level modules each module's non-test code names (`crate::x`), by file.
    fn uses() -> BTreeMap<String, BTreeSet<(String, String)>> {
        fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, files);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let mut uses: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
        for file in files {
            let rel = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let module = rel.split(['/', '.']).next().unwrap().to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != module && name != "hex" {
                    uses.entry(module.clone())
                        .or_default()
                        .insert((name, rel.clone()));
                }
            }
        }
        uses
    }

    #[test]
    fn modules_form_one_way_layers() {
        let layer = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
        let mut wrong = Vec::new();
        for (module, used) in uses() {
            let Some(own) = layer(&module) else {
                wrong.push(format!("module `{module}` has no layer in LAYERS"));
                continue;
            };
            for (name, file) in used {
                match layer(&name) {
                    Some(l) if l < own => {}
                    _ => wrong.push(format!("src/{file} ({module}) uses crate::{name}")),
                }
            }
        }
        assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    }

    #[test]
    fn the_dialect_module_is_a_leaf() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/dialect.rs");
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        assert!(
            !code.contains("crate::") && !code.contains("super::"),
            "dialect.rs imports ours"
        );
    }

    #[test]
    fn hex_matches_the_formatter() {
        let bytes: Vec<u8> = (0..=255).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&bytes), expected);
    }
}
