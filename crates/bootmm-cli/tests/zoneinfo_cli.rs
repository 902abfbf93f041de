//! `bootmm check --zoneinfo`: the exit status, the summary, and clear errors.

use assert_cmd::Command;
use std::path::PathBuf;

fn corpus(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    assert!(p.exists(), "corpus file missing: {}", p.display());
    p
}

fn bootmm(args: &[&str]) -> (bool, String, String) {
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

#[test]
fn host_zoneinfo_is_reproduced_with_the_thp_raise() {
    let p = corpus("host/zoneinfo.txt");
    let (ok, out, err) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("min_free_kbytes: 67584 (THP raise (khugepaged))"),
        "{out}"
    );
    assert!(out.contains("0 differ"), "{out}");
    // Told that khugepaged did not run, the numbers no longer fit.
    let (ok, out, _) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap(), "--no-thp"]);
    assert!(!ok, "{out}");
}

#[test]
fn json_and_boot_time_managed() {
    let p = corpus("zoneinfo/001-hyperv-8g-rhel8-4.18.txt");
    let (ok, out, _) = bootmm(&[
        "check",
        "--json",
        "--zoneinfo",
        p.to_str().unwrap(),
        "--kernel",
        "4.18.0-80.el8",
    ]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["kernel"], "4.18");
    assert!(v["notes"][0]
        .as_str()
        .unwrap()
        .contains("managed changed since boot"));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let (ok, _, err) = bootmm(&["check", "--zoneinfo", "/nonexistent/zoneinfo"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/zoneinfo"), "{err}");
    let p = corpus("host/zoneinfo.txt");
    let (ok, _, err) = bootmm(&[
        "check",
        "--zoneinfo",
        p.to_str().unwrap(),
        "--kernel",
        "banana",
    ]);
    assert!(!ok);
    assert!(err.contains("--kernel"), "{err}");
    let log = corpus("host/dmesg-6.18-host.txt");
    let (ok, _, err) = bootmm(&["check", "--zoneinfo", log.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("no \"Node N, zone NAME\" blocks"), "{err}");
}
