//! NUMA from the command line and against real multi-node and single-node logs.

mod common;
use common::{bootmm, corpus};

#[test]
fn boot_with_two_nodes_prints_each_node() {
    let (ok, out, err) = bootmm(&["boot", "--nodes", "2", "--kernel", "6.6"]);
    assert!(ok, "{err}");
    for want in [
        "ACPI: SRAT: Node 1 PXM 1 [mem 0x100000000-0x13fffffff]",
        "NUMA: Node 1 [mem 0x80000000-0xbfffffff] + [mem 0x100000000-0x13fffffff] -> [mem 0x80000000-0x13fffffff]",
        "  node   1: [mem 0x0000000080000000-0x00000000bffdffff]",
        "Initmem setup node 1 [mem 0x0000000080000000-0x000000013fffffff]",
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want:?} in:\n{out}");
    }
    assert_eq!(
        out.lines().filter(|l| l.starts_with("NODE_DATA(")).count(),
        2
    );
}

#[test]
fn explicit_nodes_distances_and_numa_params() {
    let (ok, out, err) = bootmm(&[
        "boot",
        "--mem",
        "8G",
        "--cpus",
        "4",
        "--kernel",
        "4.9",
        "--numa-node",
        "0:0-4G",
        "--numa-node",
        "1:4G+5G",
        "--numa-distance",
        "0,1=21",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("NUMA: Initialized distance table, cnt=2"),
        "{out}"
    );
    assert!(out.contains("Initmem setup node 1 [mem 0x0000000100000000-0x000000023fffffff]"));
    let (ok, out, _) = bootmm(&["boot", "--nodes", "2", "--cmdline", "numa=off"]);
    assert!(ok);
    assert!(out.contains("NUMA turned off") && !out.contains("NODE_DATA(1)"));
    let (ok, out, _) = bootmm(&["boot", "--mem", "4G", "--cmdline", "numa=fake=4"]);
    assert!(ok);
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("Faking node "))
            .count(),
        4
    );
    // Bad descriptions are refused with a reason.
    for bad in [
        &["boot", "--numa-node", "0:4G-2G"][..],
        &["boot", "--numa-node", "x:0-1G"][..],
        &["boot", "--numa-node", "0:0-1G", "--numa-distance", "0,0=20"][..],
        &["boot", "--nodes", "2", "--numa-node", "0:0-1G"][..],
        &["boot", "--numa-distance", "0,1=20"][..],
        &["boot", "--nodes", "0"][..],
        &["boot", "--numa-node", "99:0-1G"][..],
    ] {
        let (ok, _, err) = bootmm(bad);
        assert!(!ok && err.starts_with("bootmm: "), "{bad:?}: {err}");
    }
}

/// `bootmm check --json` statuses of the NUMA-related families.
fn numa_statuses(rel: &str) -> Vec<(String, String, String)> {
    let (_, out, err) = bootmm(&["check", "--json", corpus(rel).to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            matches!(
                l["family"].as_str(),
                Some("NUMA" | "Early memory node ranges" | "Initmem setup node")
            )
        })
        .map(|l| {
            (
                l["family"].as_str().unwrap().to_string(),
                l["status"].as_str().unwrap().to_string(),
                l["log"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn multi_node_logs_check_exactly() {
    for (rel, lines) in [
        ("dmesg/030-server-2node-48cpu-160g-4.9.txt", 15),
        (
            "dmesg/048-dell-r7625-epyc-32node-512cpu-768g-6.12-rc2.txt",
            105,
        ),
        (
            "memblock-debug/003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt",
            11,
        ),
    ] {
        let s = numa_statuses(rel);
        assert_eq!(s.len(), lines, "{rel}: {s:?}");
        // init_mem_mapping's page-table pages are taken from memblock as the kernel takes
        // them, and these logs give its inputs: every line is exact.
        for (fam, st, log) in &s {
            assert_eq!(st, "exact", "{rel}: {fam}: {log}");
        }
    }
}

#[test]
fn node_data_under_the_page_tables_is_exact_where_the_log_gives_the_inputs() {
    // Logs whose "Using GB pages" line (or its absence) and BRK lines, or memblock=debug
    // kernel reservation, decide init_mem_mapping's page-table pages.
    for rel in [
        "memblock-debug/002-hp-286-pro-g2-8g-memblock-debug-4.9.txt",
        "dmesg/007-surface-book-8g-4.4.txt",
        "dmesg/010-asus-k55vd-laptop-4g-4.2.txt",
        "dmesg/016-supermicro-x8sie-16g-memmap-pmem-4.4.txt",
        "dmesg/019-alienware-m11x-4g-3.16.txt",
        "dmesg/020-thinkpad-t400-3g-3.13.txt",
        "dmesg/032-laptop-8g-5.6-arch.txt",
        "dmesg/043-dell-optiplex-7010-8g-3.11.txt",
        "dmesg/052-asus-m4a88t-6cpu-8g-3.19.txt",
        "dmesg/053-lenovo-7514-4g-3.13.txt",
    ] {
        let s = numa_statuses(rel);
        let nd: Vec<_> = s
            .iter()
            .filter(|(_, _, l)| l.contains("NODE_DATA"))
            .collect();
        assert!(!nd.is_empty(), "{rel}");
        for (_, st, log) in nd {
            assert_eq!(st, "exact", "{rel}: {log}");
        }
    }
}

#[test]
fn node_data_stays_unsure_where_kaslr_hides_the_kernel() {
    // A 6.6 log without memblock=debug: where KASLR put the kernel (and so whether the
    // range holding the brk buffer needs new tables) is not printed.
    let (ok, out, err) = bootmm(&[
        "check",
        "--json",
        corpus("dmesg/029-virtualbox-8g-6.6-arch.txt")
            .to_str()
            .unwrap(),
    ]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let l = j["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["log"]
                .as_str()
                .is_some_and(|t| t.starts_with("NODE_DATA(0)"))
        })
        .unwrap();
    assert_eq!(l["status"], "unsure");
    assert!(
        l["why"]
            .as_str()
            .unwrap()
            .contains("where KASLR put the kernel"),
        "{l}"
    );
}

#[test]
fn single_node_logs_have_no_numa_misses() {
    for rel in [
        "dmesg/001-hyperv-8g-rhel8-4.18.txt",
        "dmesg/007-surface-book-8g-4.4.txt",
        "dmesg/008-ryzen-desktop-32cpu-32g-5.3.txt",
        "dmesg/019-alienware-m11x-4g-3.16.txt",
        "dmesg/020-thinkpad-t400-3g-3.13.txt",
        "dmesg/026-qemu-512m-2.6.32-debian.txt",
        "dmesg/028-laptop-8g-6.0-arch.txt",
        "dmesg/029-virtualbox-8g-6.6-arch.txt",
        "dmesg/035-aws-xen-hvm-1g-5.4-aws.txt",
        "dmesg/041-hp-probook-650g1-8g-4.15.txt",
        "dmesg/043-dell-optiplex-7010-8g-3.11.txt",
        "dmesg/046-virtualbox-12g-6.4-custom.txt",
        "dmesg/052-asus-m4a88t-6cpu-8g-3.19.txt",
        "dmesg/055-vmware-128cpu-possible-4g-5.8-custom.txt",
        "host/dmesg-6.18-host.txt",
    ] {
        for (fam, st, log) in numa_statuses(rel) {
            assert!(st == "exact" || st == "unsure", "{rel}: {fam} {st}: {log}");
        }
    }
}

/// setup_per_cpu_areas on the two-node memblock=debug guest: each node's 2 MiB allocation
/// lands where the log shows it, and the same four unit tails (and the two bookkeeping
/// pages) go back to memblock.
#[test]
fn the_first_percpu_chunk_is_taken_and_trimmed_as_the_log_shows() {
    let rel = "memblock-debug/003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt";
    let log = std::fs::read_to_string(corpus(rel)).unwrap();
    let p = corpus(rel);
    let (ok, out, err) = bootmm(&["boot", "--from-dmesg", p.to_str().unwrap()]);
    assert!(ok, "{err}");
    let want: Vec<&str> = log
        .lines()
        .map(|l| l.split_once("] ").map_or(l, |(_, t)| t))
        .filter(|t| {
            t.starts_with("memblock_reserve: [0x000000007dc00000")
                || t.starts_with("memblock_reserve: [0x000000013dc00000")
                || (t.starts_with("memblock_phys_free: ") && t.contains("pcpu_embed_first_chunk"))
        })
        .map(|t| t.split(']').next().unwrap())
        .collect();
    // The two groups, four unit tails, then the alloc info and the areas array.
    assert_eq!(want.len(), 8, "{want:?}");
    for w in want {
        assert!(out.contains(w), "model lacks {w}");
    }
}

/// From setup_command_line to the end of pcpu_setup_first_chunk, the memblock allocations a
/// memblock=debug log shows (size and alignment, in order) are the model's, in a 4.9 and a 6.6
/// boot.
#[test]
fn start_kernel_allocates_the_command_line_and_the_first_chunk_as_the_log_shows() {
    // The "N bytes align=A" of each allocation from the first command-line copy up to the
    // first free after the pcpu-alloc dump.
    fn seq(text: &str, first: &str) -> Vec<String> {
        let mut out = Vec::new();
        let (mut on, mut dumped) = (false, false);
        for l in text.lines() {
            // A log line's "[    0.036000] " stamp (the model prints none).
            let t = match l.strip_prefix('[') {
                Some(r) => r.split_once("] ").map_or(l, |(_, t)| t),
                None => l,
            };
            if t.starts_with("memblock_") && t.contains(" bytes align=") && t.contains(first) {
                on = true;
            }
            if !on {
                continue;
            }
            if t.starts_with("pcpu-alloc: ") {
                dumped = true;
            }
            if dumped && (t.contains("free_early: [") || t.contains("free: [")) {
                break;
            }
            if let Some((_, r)) = t.split_once(": ") {
                if let Some((n, rest)) = r.split_once(" bytes align=") {
                    let a = rest.split_whitespace().next().unwrap_or("");
                    out.push(format!("{n} {a}"));
                }
            }
        }
        out
    }
    for (rel, n) in [
        (
            "memblock-debug/002-hp-286-pro-g2-8g-memblock-debug-4.9.txt",
            12,
        ),
        (
            "memblock-debug/003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt",
            19,
        ),
    ] {
        let p = corpus(rel);
        let log = std::fs::read_to_string(&p).unwrap();
        let (ok, out, err) = bootmm(&["boot", "--from-dmesg", p.to_str().unwrap()]);
        assert!(ok, "{err}");
        let want = seq(&log, "start_kernel+");
        assert_eq!(want.len(), n, "{rel}: {want:?}");
        assert_eq!(seq(&out, "setup_command_line"), want, "{rel}");
    }
}
