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

/// Every shared zoneinfo ends exact or explained, with the min_free_kbytes the kernel reached.
#[test]
fn corpus_outcomes() {
    let expect = [
        ("zoneinfo/001-hyperv-8g-rhel8-4.18.txt", "67584"),
        ("zoneinfo/002-digitalocean-1g-1cpu-5.14-el9.txt", "34548"),
        ("zoneinfo/003-i7-2600-8g-3.2-ubuntu.txt", "67584"),
        (
            "zoneinfo/005-prometheus-procfs-fixture-8cpu-8g.txt",
            "67584",
        ),
        ("zoneinfo/006-node-exporter-fixture-8cpu-32g.txt", "67584"),
        ("zoneinfo/007-pcp-qa-i7-4810mq-laptop-16g.txt", "15957"),
        ("zoneinfo/009-pcp-qa-kvm-haswell-4cpu-4g.txt", "67584"),
        ("zoneinfo/010-pcp-qa-i7-4810mq-laptop-16g-b.txt", "67584"),
        ("zoneinfo/012-pcp-qa-i7-4810mq-2node-8cpu-8g.txt", "90112"),
        ("host/zoneinfo.txt", "67584"),
    ];
    for (name, mfk) in expect {
        let p = corpus(name);
        let (ok, out, err) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap()]);
        assert!(ok, "{name}: {out}{err}");
        assert!(out.contains(" 0 differ"), "{name}: {out}");
        assert!(
            out.contains(&format!("min_free_kbytes: {mfk} (")),
            "{name}: {out}"
        );
    }
}

/// A 1-CPU CentOS Stream 9 droplet: the watermarks and the pageset batch/high (5.14+ resets
/// them with every watermark setup) come from a DMA32 zone of about 170150 pages and the THP
/// raise capped at 5% of lowmem (8637 pages), while protection matches today's 193648.
#[test]
fn el9_droplet_watermarks_older_than_protection() {
    let p = corpus("zoneinfo/002-digitalocean-1g-1cpu-5.14-el9.txt");
    let (ok, out, err) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("node 0 DMA32 170140..170178 (now 193648)"),
        "{out}"
    );
    assert!(
        out.contains("protection matches today's managed counts"),
        "{out}"
    );
    assert!(
        out.contains("pagesets/threshold: 6 of 6 reproduced"),
        "{out}"
    );
    // Without khugepaged no snapshot fits.
    let (ok, out, _) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap(), "--no-thp"]);
    assert!(!ok, "{out}");
    assert!(out.contains("min_free_kbytes: not reproduced"), "{out}");
}

/// Two nodes: the THP raise counts the populated zones of both (DMA, DMA32, Normal, Normal:
/// 512 * 4 * 11 pages), and the lowest zone of each node (no protection array constrains it)
/// is solved from the watermarks like the others.
#[test]
fn two_node_thp_raise_and_boot_managed() {
    let p = corpus("zoneinfo/012-pcp-qa-i7-4810mq-2node-8cpu-8g.txt");
    let (ok, out, err) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("node 1 Normal 1018123..1018559 (now 1020184)"),
        "{out}"
    );
    assert!(
        out.contains("pagesets/threshold: 12 of 12 reproduced"),
        "{out}"
    );
    assert!(!out.contains("protection matches today's"), "{out}");
    let (ok, out, _) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap(), "--no-thp"]);
    assert!(!ok, "{out}");
}

/// The boot-time search explains real files, not anything: nudge one zone's watermark by a
/// few pages and the numbers no longer fit any boot-time managed counts.
#[test]
fn a_nudged_watermark_is_not_explained_away() {
    for name in [
        "zoneinfo/002-digitalocean-1g-1cpu-5.14-el9.txt",
        "zoneinfo/007-pcp-qa-i7-4810mq-laptop-16g.txt",
        "zoneinfo/012-pcp-qa-i7-4810mq-2node-8cpu-8g.txt",
    ] {
        for field in ["min", "low", "high"] {
            let text = std::fs::read_to_string(corpus(name)).unwrap();
            // The second zone's value of `field`, raised by 3 pages.
            let mut seen = 0;
            let nudged: String = text
                .lines()
                .map(|l| {
                    let mut w = l.split_whitespace();
                    if w.next() == Some(field) && w.clone().count() == 1 {
                        seen += 1;
                        if seen == 2 {
                            let v: u64 = w.next().unwrap().parse().unwrap();
                            return l.replace(&v.to_string(), &(v + 3).to_string());
                        }
                    }
                    l.to_string()
                })
                .collect::<Vec<_>>()
                .join("\n");
            assert!(seen >= 2, "{name}: no second {field} line");
            let p = std::env::temp_dir().join(format!(
                "bootmm-nudged-{}-{field}-{}.txt",
                std::process::id(),
                name.replace('/', "_")
            ));
            std::fs::write(&p, nudged).unwrap();
            let (ok, out, _) = bootmm(&["check", "--zoneinfo", p.to_str().unwrap()]);
            let _ = std::fs::remove_file(&p);
            assert!(!ok, "{name} {field}+3 was explained:\n{out}");
            assert!(!out.contains(" 0 differ"), "{name} {field}+3:\n{out}");
        }
    }
}
