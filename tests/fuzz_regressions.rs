//! Replays, in the ordinary test run, every input a fuzz target once failed on
//! (`fuzz/regressions/<target>/`) and the committed seeds (`fuzz/corpus/<target>/`),
//! through the same checks the fuzzers run (`newsread::fuzzing`). A fuzzer finding is
//! fixed in the code and its input kept here, so it can never come back unnoticed.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("feed", newsread::fuzzing::feed),
    ("mediastack", newsread::fuzzing::mediastack),
    ("cursor", newsread::fuzzing::cursor),
    ("duration", newsread::fuzzing::duration),
    ("config", newsread::fuzzing::config),
];

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `kind` through its target; returns how many ran, panics listing
/// every input that failed.
fn replay(kind: &str) -> usize {
    let mut ran = 0;
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).expect("readable input");
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
    ran
}

#[test]
fn past_fuzzer_findings_stay_fixed() {
    assert!(replay("regressions") > 0, "no regression inputs found");
}

#[test]
fn seed_corpora_pass_the_fuzz_checks() {
    // Every target has seeds; a missing directory would make its smoke run meaningless.
    for (target, _) in TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "no seeds for {target}"
        );
    }
    assert!(replay("corpus") >= TARGETS.len());
}
