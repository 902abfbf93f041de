// SPDX-License-Identifier: GPL-2.0-only
//! Every input a fuzzer found a crash with (`fuzz/regressions/TARGET/*`) runs through its
//! target again, so that none of those crashes comes back; and every seed of the fuzz
//! corpus (`fuzz/seeds/TARGET/*`) runs too, so the targets themselves stay sound.

use std::path::PathBuf;

use bootmm_cli::fuzzing::TARGETS;

fn inputs(dir: &str) -> Vec<(String, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(dir);
    let mut out = Vec::new();
    for (name, _) in TARGETS {
        let Ok(rd) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for e in rd.flatten() {
            out.push((name.to_string(), e.path()));
        }
    }
    out.sort();
    out
}

fn run(dir: &str) -> usize {
    let all = inputs(dir);
    for (target, path) in &all {
        let data = std::fs::read(path).unwrap();
        let f = TARGETS.iter().find(|(n, _)| n == target).unwrap().1;
        f(&data);
    }
    all.len()
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let n = run("regressions");
    assert!(
        n >= 5,
        "only {n} regression inputs found under fuzz/regressions"
    );
}

#[test]
fn fuzz_seeds_run_clean() {
    let n = run("seeds");
    assert!(n >= 8, "only {n} seeds found under fuzz/seeds");
}
