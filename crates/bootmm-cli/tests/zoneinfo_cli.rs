//! `bootmm check --zoneinfo`: the exit status, the summary, and clear errors.

mod common;
use common::{bootmm, corpus};

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
