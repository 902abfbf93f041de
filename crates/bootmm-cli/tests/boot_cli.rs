//! `bootmm boot` and `bootmm check` as a user runs them: real logs in, kernel lines out.

use std::path::PathBuf;

mod common;
use common::{bootmm, bootmm_rc, corpus};

/// The log's lines of the e820 families, console prefixes removed.
fn e820_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.find("] ") {
            Some(i) if l.starts_with('[') => &l[i + 2..],
            _ => l,
        })
        .filter(|l| {
            l.contains("BIOS-provided physical RAM map")
                || l.starts_with("BIOS-e820:")
                || l.starts_with("e820: update")
                || l.starts_with("e820: remove")
                || l.starts_with("last_pfn")
                || l.starts_with("e820: last_pfn")
        })
        .map(String::from)
        .collect()
}

#[test]
fn default_machine_prints_what_a_real_qemu_4g_guest_prints() {
    // The 003 log is a QEMU pc 4 GiB guest running 6.6 under KVM.
    let real = std::fs::read_to_string(corpus(
        "memblock-debug/003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt",
    ))
    .unwrap();
    let (ok, out, err) = bootmm(&["boot", "--kernel", "6.6"]);
    assert!(ok, "{err}");
    assert_eq!(e820_lines(&out), e820_lines(&real));
    assert!(e820_lines(&out).len() >= 12);
}

#[test]
fn from_dmesg_reproduces_the_host_logs_e820_lines() {
    let log = corpus("host/dmesg-6.18-host.txt");
    let real = std::fs::read_to_string(&log).unwrap();
    let (ok, out, err) = bootmm(&["boot", "--from-dmesg", log.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (m, r) = (e820_lines(&out), e820_lines(&real));
    assert_eq!(m, r);
    // Three last_pfn lines: KVM's early one, max_pfn, max_low_pfn.
    assert_eq!(m.iter().filter(|l| l.starts_with("last_pfn")).count(), 3);
}

#[test]
fn trace_shows_the_tree_through_e820_memblock_setup_and_the_early_reservations() {
    let (ok, out, _) = bootmm(&["boot", "--trace"]);
    assert!(ok);
    let tree: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .collect();
    let pos = |name: &str| {
        tree.iter()
            .position(|l| l.trim_start().starts_with(&format!("- {name} ")))
            .unwrap_or_else(|| panic!("{name} missing from\n{}", tree.join("\n")))
    };
    assert_eq!(tree[0], "- start_kernel init/main.c");
    assert_eq!(tree[1], "  - setup_arch arch/x86/kernel/setup.c");
    assert!(pos("early_reserve_memory") < pos("e820__memory_setup"));
    assert!(pos("reserve_bios_regions") < pos("e820__memblock_setup"));
    assert!(pos("e820__memblock_setup") < pos("reserve_real_mode"));
    assert!(tree
        .iter()
        .any(|l| l.contains("- e820__memblock_setup arch/x86/kernel/e820.c")));
}

#[test]
fn trace_json_is_a_chrome_trace() {
    let dir = std::env::temp_dir().join(format!("bootmm-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("t.json");
    let (ok, _, _) = bootmm(&["boot", "--trace-json", f.to_str().unwrap()]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    let ev = v["traceEvents"].as_array().unwrap();
    assert!(ev
        .iter()
        .any(|e| e["name"] == "setup_arch" && e["ph"] == "X"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn memblock_debug_dumps_the_configuration_after_the_e820_fill() {
    let (ok, out, _) = bootmm(&["boot", "--cmdline", "memblock=debug"]);
    assert!(ok);
    let i = out
        .lines()
        .position(|l| l == "MEMBLOCK configuration:")
        .expect("dump");
    let next: Vec<&str> = out.lines().skip(i + 1).take(3).collect();
    assert!(next[0].starts_with(" memory size = 0x"), "{next:?}");
    assert_eq!(next[1], " memory.cnt  = 0x3");
    assert_eq!(next[2], " memory[0x0]\t[0x0000000000001000-0x000000000009efff], 0x000000000009e000 bytes flags: 0x0");
}

#[test]
fn mem_limits_the_map_and_prints_the_user_map() {
    let (ok, out, _) = bootmm(&["boot", "--mem", "2G", "--cmdline", "mem=1G"]);
    assert!(ok);
    assert!(out.contains("user-defined physical RAM map:"));
    assert!(out.contains("last_pfn = 0x40000 max_arch_pfn = 0x400000000"));
}

fn write_tmp(name: &str, body: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("bootmm-{}-{name}", std::process::id()));
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn bad_e820_input_gets_a_clear_error_not_a_panic() {
    for (name, body, want) in [
        ("garbage", "this is not a map\n", "line 1"),
        ("backwards", "0x100000 0x1000 usable\n", "line 1"),
        ("badtype", "0 0x9fc00 banana\n", "line 1"),
        ("single", "0x1000 0x2000 usable\n", "unusable"),
    ] {
        let f = write_tmp(name, body);
        let (ok, _, err) = bootmm(&["boot", "--e820", f.to_str().unwrap()]);
        assert!(!ok, "{name} booted");
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        std::fs::remove_file(f).ok();
    }
}

#[test]
fn zero_size_entries_are_dropped_and_the_kernel_falls_back_on_its_own_range() {
    // Sanitizing drops both entries; e820_add_kernel_range then warns and adds the image.
    // That image is all the RAM there is and it is reserved, so sparse_init's first
    // allocation fails, where the kernel panics: a clear error, not a crash.
    let f = write_tmp("zero", "0 +0 usable\n0x1000 +0 usable\n");
    let (ok, out, err) = bootmm(&["boot", "--e820", f.to_str().unwrap()]);
    // The only RAM is the kernel image, all reserved: the kernel panics at its first
    // allocation (NODE_DATA from 6.12, the memmap's section roots before); bootmm stops cleanly.
    assert!(
        !ok && (err.contains("for node 0 data")
            || err.contains("memblocks_present: Failed to allocate")),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.lines().any(|l| l.starts_with("BIOS-e820:")), "{out}");
    assert!(
        out.contains(".text .data .bss are not marked as E820_TYPE_RAM!"),
        "{out}"
    );
    std::fs::remove_file(f).ok();
}

#[test]
fn overlapping_entries_are_sanitized_as_the_kernel_does() {
    let f = write_tmp(
        "overlap",
        "0 0xa0000 usable\n0x9fc00 0xa0000 reserved\n0x100000 0x40000000 usable\n0x3ff00000 0x40100000 reserved\n0x200000 +0 usable\n",
    );
    let (ok, out, err) = bootmm(&["boot", "--e820", f.to_str().unwrap()]);
    assert!(ok, "{err}");
    let map: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("BIOS-e820:"))
        .collect();
    assert_eq!(
        map,
        [
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
            "BIOS-e820: [mem 0x0000000000100000-0x000000003fefffff] usable",
            "BIOS-e820: [mem 0x000000003ff00000-0x00000000400fffff] reserved",
        ]
    );
    std::fs::remove_file(f).ok();
}

#[test]
fn bad_kernel_parameters_are_reported_and_boot_goes_on() {
    let (ok, out, _) = bootmm(&["boot", "--cmdline", "mem=banana memmap=zz"]);
    assert!(ok);
    assert!(out.contains("Malformed early option 'mem'"), "{out}");
    assert!(out.contains("Malformed early option 'memmap'"), "{out}");
}

/// The differences the model is known to have on a shared log, each with its reason in
/// docs/divergences.md: RHEL 6's 2.6.32 backports a per-node vmemmap buffer and reserves
/// `crashkernel=auto`'s 130 MiB, which move its percpu chunk.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[("034-nec-express5800-16g-2.6.32-el6.txt", "percpu")];

/// Every shared log, checked: no line of a modeled family may differ (but the known ones).
#[test]
fn check_finds_no_difference_in_any_shared_log() {
    let mut checked = 0;
    let mut percpu = 0;
    let mut failures = Vec::new();
    for d in ["dmesg", "host", "memblock-debug"] {
        for e in std::fs::read_dir(corpus(d)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if d == "host" && !name.starts_with("dmesg") {
                continue;
            }
            let (rc, out, err) = bootmm_rc(&["check", "--json", p.to_str().unwrap()], b"");
            if out.trim().is_empty() {
                // A log without an e820 map (an excerpt) cannot be booted; it must say so.
                assert!(err.contains("no BIOS-e820 map"), "{name}: {err}");
                assert_eq!(rc, 2, "{name}: an unusable log is an input error");
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {err}"));
            for l in v["lines"].as_array().unwrap() {
                let st = l["status"].as_str().unwrap();
                let known = KNOWN_DIFFERENCES
                    .iter()
                    .any(|&(log, fam)| log == name && l["family"] == fam);
                if (st == "differs" || st == "model only") && !known {
                    failures.push(format!("{name}: {l}"));
                }
            }
            // 1: a line differs; 3: the model stopped early (2.6 and i386 eras), nothing
            // it compared differs; 0: the whole boot, nothing differs.
            let want = if v["summary"]["differ"] != 0 {
                1
            } else if !v["boot_error"].is_null() {
                3
            } else {
                0
            };
            assert_eq!(rc, want, "{name}: exit status must say how the check ended");
            percpu += v["lines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["family"] == "percpu" && l["status"] == "exact")
                .count();
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} logs checked");
    // Every shared log that prints setup_per_cpu_areas' lines (most do) has them compared.
    assert!(percpu >= 100, "only {percpu} exact percpu lines");
    assert!(
        failures.is_empty(),
        "{} differing lines:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Logs booted with `log_buf_len=10M` and `apic=debug`: the early log buffer (16 MiB) and the
/// APIC's fixmap page table come from memblock before NODE_DATA, which lands exactly below them.
#[test]
fn check_places_the_early_log_buffer_before_node_data() {
    for name in [
        "022-lenovo-amd-laptop-16g-4.2-rc4.txt",
        "023-lenovo-amd-laptop-16g-4.3-rc1.txt",
    ] {
        let p = corpus("dmesg").join(name);
        let (_, out, err) = bootmm(&["check", "--json", p.to_str().unwrap()]);
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {err}"));
        let lines = v["lines"].as_array().unwrap();
        let find = |prefix: &str| {
            lines
                .iter()
                .find(|l| l["log"].as_str().is_some_and(|t| t.starts_with(prefix)))
                .unwrap_or_else(|| panic!("{name}: no {prefix} line"))
        };
        let lb = find("log_buf_len: ");
        assert_eq!(lb["family"], "log buffer", "{name}: {lb}");
        assert_eq!(lb["status"], "exact", "{name}: {lb}");
        let nd = find("NODE_DATA(0)");
        assert_eq!(nd["status"], "exact", "{name}: {nd}");
    }
}

/// Up to 4.3 the kernel prints each `init_memory_mapping` range and how `split_mem_range` cut
/// it into 4k/2M/1G pieces: every such line of the 64-bit logs that print them is predicted.
#[test]
fn check_predicts_the_direct_map_lines_up_to_4_3() {
    for (name, want) in [
        ("010-asus-k55vd-laptop-4g-4.2.txt", 56),
        ("019-alienware-m11x-4g-3.16.txt", 24),
        ("023-lenovo-amd-laptop-16g-4.3-rc1.txt", 19),
        ("043-dell-optiplex-7010-8g-3.11.txt", 23),
    ] {
        let p = corpus("dmesg").join(name);
        let (_, out, err) = bootmm(&["check", "--json", p.to_str().unwrap()]);
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {err}"));
        let direct: Vec<&serde_json::Value> = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["family"] == "direct map")
            .collect();
        assert_eq!(direct.len(), want, "{name}");
        for l in direct {
            assert_eq!(l["status"], "exact", "{name}: {l}");
        }
    }
}

/// The Hyper-V 4.18 VM whose boot log and /proc/zoneinfo are both shared: the booted
/// model's pagesets (batch, high) and vm stats thresholds are the kernel's in every populated
/// zone, the Normal zone's batch of 7 included (its deferred struct pages were not in
/// managed when setup_per_cpu_pageset ran). Its managed pages changed after boot (memory
/// the log does not show), so the watermarks are not compared here.
#[test]
fn the_hyperv_vm_s_pagesets_come_out_of_its_boot_log() {
    use bootmm::mm::zoneinfo::ZoneinfoFile;
    let log = corpus("dmesg").join("001-hyperv-8g-rhel8-4.18.txt");
    let (ok, out, err) = bootmm(&[
        "boot",
        "--show",
        "zoneinfo",
        "--from-dmesg",
        log.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let model = ZoneinfoFile::parse(out.split("==> /proc/zoneinfo <==").nth(1).unwrap()).unwrap();
    let real =
        std::fs::read_to_string(corpus("zoneinfo").join("001-hyperv-8g-rhel8-4.18.txt")).unwrap();
    let real = ZoneinfoFile::parse(&real).unwrap();
    let mut compared = 0;
    for r in real.zones.iter().filter(|z| !z.pcp.is_empty()) {
        let m = model
            .zones
            .iter()
            .find(|m| m.nid == r.nid && m.name == r.name)
            .unwrap_or_else(|| panic!("no model zone {}", r.name));
        assert_eq!(m.threshold, r.threshold, "{}", r.name);
        assert_eq!(m.pcp.len(), r.pcp.len(), "{}", r.name);
        for (mp, rp) in m.pcp.iter().zip(&r.pcp) {
            assert_eq!(
                (mp.batch, mp.high),
                (rp.batch, rp.high),
                "{} cpu {}",
                r.name,
                rp.cpu
            );
            compared += 1;
        }
    }
    assert!(compared >= 3, "{compared}");
    // The frees its log prints after "Memory:" (SMP alternatives, the initrd, the three image
    // parts) ran, with the sizes the log gives, and every zone's spanned and present pages
    // are the kernel's. Managed pages and the watermarks are not: after boot the VM lost
    // Normal pages and gained DMA32 pages (the Hyper-V balloon; nothing in the log), and its
    // last watermark setup saw other counts than boot's (its lowmem_reserve shows which).
    let text = std::fs::read_to_string(&log).unwrap();
    let logged: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("] Memory: "))
        .filter_map(|l| l.split_once("] Freeing ").map(|(_, r)| r))
        .collect();
    let printed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once("Freeing ").map(|(_, r)| r))
        .filter(|r| !r.starts_with("unused memblock"))
        .collect();
    assert_eq!(logged.len(), 5, "{logged:?}");
    for l in &logged {
        assert!(printed.contains(l), "{l}: {printed:?}");
    }
    for r in &real.zones {
        let m = model
            .zones
            .iter()
            .find(|m| m.nid == r.nid && m.name == r.name)
            .unwrap();
        assert_eq!((m.spanned, m.present), (r.spanned, r.present), "{}", r.name);
    }
}
