//! Helpers the CLI tests share: the shared corpus and running the built `bootmm`.

use std::path::PathBuf;

use assert_cmd::Command;

/// A file of `../shared/corpus` (from the repository root); a missing corpus fails loudly.
#[allow(dead_code)] // each test file uses what it needs of these helpers
pub fn corpus(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    assert!(
        p.exists(),
        "corpus file missing: {} (../shared/corpus from the repository root)",
        p.display()
    );
    p
}

/// Run `bootmm ARGS`: (success, stdout, stderr).
#[allow(dead_code)]
pub fn bootmm(args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("bootmm")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run `bootmm ARGS` with `stdin`: (exit code, stdout, stderr).
#[allow(dead_code)] // not every test file feeds standard input
pub fn bootmm_rc(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let out = Command::cargo_bin("bootmm")
        .unwrap()
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
