// SPDX-License-Identifier: GPL-2.0-only
//! SLUB's kmalloc geometry against the shared /proc/slabinfo files: every kmalloc-N row's
//! objsize, objperslab and pagesperslab, from `calculate_order` with the machine's CPU
//! count (the corpus index gives it) and the era's rules. The file whose caches run with
//! slub_debug (003: red zones and tracking make objects larger) is left to the debug
//! layouts, which are not modelled yet.

mod common;
use common::corpus;

use bootmm::mm::slub::kmalloc_caches;
use bootmm::{Arch, Era, KernelVersion};

/// (file, kernel version to model, CPUs).
const FILES: &[(&str, (u32, u32, u32), u32)] = &[
    ("slabinfo/001-hyperv-8g-rhel8-4.18.txt", (4, 18, 0), 2),
    ("slabinfo/002-chromebook-n100-8g-6.6.txt", (6, 6, 0), 4),
    // The pcp QA files name no kernel: their dates and layouts put them before 4.20
    // (names "kmalloc-1024") or at 5.14+ (012, "kmalloc-1k"); none is 6.8+.
    ("slabinfo/007-pcp-qa-i7-4810mq-laptop-16g.txt", (4, 4, 0), 8),
    ("slabinfo/009-pcp-qa-kvm-haswell-4cpu-4g.txt", (4, 9, 0), 4),
    (
        "slabinfo/010-pcp-qa-i7-4810mq-laptop-16g-b.txt",
        (4, 13, 0),
        8,
    ),
    (
        "slabinfo/012-pcp-qa-i7-4810mq-2node-8cpu-8g.txt",
        (5, 14, 0),
        8,
    ),
    ("host/slabinfo.txt", (6, 18, 0), 2),
];

#[test]
fn every_kmalloc_row_has_the_kernel_s_geometry() {
    let mut compared = 0;
    for &(file, v, cpus) in FILES {
        let text = std::fs::read_to_string(corpus(file)).unwrap();
        let era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
        let model = kmalloc_caches(&era, cpus);
        let mut rows = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some(name) = f.first().filter(|n| n.starts_with("kmalloc-")) else {
                continue;
            };
            let Some((_, g)) = model.iter().find(|(n, _)| n == name) else {
                // kmalloc-rcl-*, kmalloc-cg-*, dma-kmalloc-*: variants of the same sizes.
                assert!(
                    !name[8..].starts_with(|c: char| c.is_ascii_digit()),
                    "{file}: {name} has no model row"
                );
                continue;
            };
            let real: Vec<u32> = f[3..6].iter().map(|x| x.parse().unwrap()).collect();
            assert_eq!(
                [g.objsize, g.objperslab, g.pagesperslab],
                [real[0], real[1], real[2]],
                "{file}: {name}"
            );
            rows += 1;
        }
        assert!(rows >= 11, "{file}: only {rows} kmalloc rows");
        compared += rows;
    }
    assert!(compared >= 80, "{compared}");
}

/// `bootmm check --slabinfo` on every shared file: no row differs, and the CPU count it
/// infers (an fls class) holds the machine's, as the corpus index gives it.
#[test]
fn check_slabinfo_reproduces_every_shared_file() {
    // (file, CPUs per the index; 0: unknown).
    let files = [
        ("slabinfo/001-hyperv-8g-rhel8-4.18.txt", 2),
        ("slabinfo/002-chromebook-n100-8g-6.6.txt", 4),
        (
            "slabinfo/003-prometheus-procfs-fixture-nvidia-desktop.txt",
            0,
        ),
        ("slabinfo/007-pcp-qa-i7-4810mq-laptop-16g.txt", 8),
        ("slabinfo/009-pcp-qa-kvm-haswell-4cpu-4g.txt", 4),
        ("slabinfo/010-pcp-qa-i7-4810mq-laptop-16g-b.txt", 8),
        ("slabinfo/012-pcp-qa-i7-4810mq-2node-8cpu-8g.txt", 8),
        ("host/slabinfo.txt", 2),
    ];
    let mut rows = 0;
    for (file, cpus) in files {
        let path = corpus(file);
        let (rc, out, err) = common::bootmm_rc(
            &["check", "--json", "--slabinfo", path.to_str().unwrap()],
            b"",
        );
        assert_eq!(rc, 0, "{file}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["differ"], 0, "{file}");
        rows += v["rows"].as_array().unwrap().len();
        if cpus > 0 {
            let inferred = v["cpus"].as_str().unwrap();
            let lo: u32 = inferred.split(['–', ' ']).next().unwrap().parse().unwrap();
            assert!(
                lo <= cpus && cpus < 2 * lo.max(1),
                "{file}: {inferred} vs {cpus} CPUs"
            );
        }
    }
    assert!(rows >= 1000, "{rows}");
}

/// A CPU count the file's geometry rules out: rows differ and the exit status says so; a
/// file that is not a slabinfo is an input error.
#[test]
fn check_slabinfo_fails_when_rows_differ() {
    let host = corpus("host/slabinfo.txt");
    let (rc, out, _) = common::bootmm_rc(
        &[
            "check",
            "--slabinfo",
            host.to_str().unwrap(),
            "--cpus",
            "64",
        ],
        b"",
    );
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains(
            "kmalloc-192              file    192    21   1  model    192    42   2  differs"
        ),
        "{out}"
    );
    let log = corpus("dmesg/001-hyperv-8g-rhel8-4.18.txt");
    let (rc, _, err) = common::bootmm_rc(&["check", "--slabinfo", log.to_str().unwrap()], b"");
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("not a /proc/slabinfo of version 2.1"), "{err}");
}
