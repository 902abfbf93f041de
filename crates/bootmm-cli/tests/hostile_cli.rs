// SPDX-License-Identifier: GPL-2.0-only
//! Bad input, as docs/bad-input.md lists it: each kind gets a clear message and an honest
//! exit status, never a panic, an abort, or a run past the host-memory budget.

mod common;
use common::bootmm_rc;

/// Work past the host-memory budget is refused before it is done, saying what it needs.
#[test]
fn the_host_memory_budget_refuses_up_front() {
    // 64 GiB without deferred struct page init: 1 GiB of struct pages, all written at boot.
    let (rc, _, err) = bootmm_rc(
        &[
            "boot",
            "--kernel",
            "3.18",
            "--mem",
            "64G",
            "--host-mem",
            "256M",
        ],
        b"",
    );
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("initialising up to ")
            && err.contains("without deferred struct page init")
            && err.contains("over the host-memory budget of 256.0 MiB (--host-mem)"),
        "{err}"
    );
    // The same through the environment.
    let out = assert_cmd::Command::cargo_bin("bootmm")
        .unwrap()
        .args(["boot", "--kernel", "3.18", "--mem", "64G"])
        .env("BOOTMM_HOST_MEM", "256M")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(BOOTMM_HOST_MEM)"));
    let out = assert_cmd::Command::cargo_bin("bootmm")
        .unwrap()
        .args(["boot"])
        .env("BOOTMM_HOST_MEM", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BOOTMM_HOST_MEM=\"lots\""));
    // A bare machine's memset writes host memory: 32 GiB of it is refused.
    let (rc, _, err) = bootmm_rc(
        &["script", "--bare", "--host-mem", "1G"],
        b"memset(0x100000, 0xaa, 32G)\nmemset(0x100000, 0xaa, 4K)\n",
    );
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains(
            "line 1: memset of 32.0 GiB at 0x100000 would need 32.0 GiB more of host memory"
        ),
        "{err}"
    );
    assert!(!err.contains("line 2"), "{err}");
    // Growing deferred struct pages on demand stops at the budget with an error per line.
    let mut script = String::new();
    for _ in 0..2000 {
        script.push_str("p = alloc_pages(GFP_KERNEL, 10)\n");
    }
    let (rc, out, err) = bootmm_rc(
        &["script", "--mem", "64G", "--host-mem", "160M"],
        script.as_bytes(),
    );
    assert_eq!(rc, 1);
    assert!(
        err.contains("growing the zone's deferred struct pages: initialising 32768 deferred struct pages would need 2.0 MiB more of host memory"),
        "{err}"
    );
    assert!(
        out.matches("page:pfn").count() > 100,
        "allocations ran until the budget"
    );
}

fn corpus_text(rel: &str) -> String {
    std::fs::read_to_string(common::corpus(rel)).unwrap()
}

fn write_tmp(name: &str, text: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bootmm-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A check that compared nothing, or whose model stopped early, is not a success.
#[test]
fn exit_codes_tell_how_a_run_ended() {
    // 2.6.30 i386: the boot stops at setup_per_cpu_areas (initmem_init's bootmem
    // bitmap is not built), and says so.
    let (rc, _, err) = bootmm_rc(&["boot", "--i386", "i386", "--kernel", "2.6.30"], b"");
    assert_eq!(rc, 1);
    assert!(
        err.contains("not modelled yet: the percpu first chunk and the rest of a 2.6.30 i386 boot"),
        "{err}"
    );
    // ...and a check of a log of that era is incomplete: 3 (a 3.2 i386 log relabelled).
    let text = std::fs::read_to_string(common::corpus(
        "dmesg/039-qemu-i386-pae-128m-3.2-debian.txt",
    ))
    .unwrap()
    .replace(
        "Linux version 3.2.0-4-686-pae",
        "Linux version 2.6.30-1-686-pae",
    );
    assert!(text.contains("Linux version 2.6.30-1-686-pae"));
    // Up to the zones.
    let text = &text[..text.find("On node 0 totalpages").unwrap()];
    let log = write_tmp("i386-2.6.30.txt", text.as_bytes());
    let (rc, _, err) = bootmm_rc(&["check", log.to_str().unwrap()], b"");
    assert_eq!(rc, 3, "{err}");
    assert!(
        err.contains("check incomplete: the model's boot stopped"),
        "{err}"
    );
    // A log with a map but none of the predicted lines: nothing compared.
    let only_map: String = corpus_text("dmesg/019-alienware-m11x-4g-3.16.txt")
        .lines()
        .filter(|l| {
            l.contains("BIOS-e820") || l.contains("Linux version") || l.contains("physical RAM map")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let p = write_tmp("only-map.txt", only_map.as_bytes());
    let (rc, _, err) = bootmm_rc(&["check", p.to_str().unwrap()], b"");
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("nothing to compare"), "{err}");
    // ... and one whose only other line is of a family not modeled yet.
    let p = write_tmp(
        "map-and-log-buf.txt",
        format!("{only_map}printk: log_buf_len: 4194304 bytes\n").as_bytes(),
    );
    let (rc, _, err) = bootmm_rc(&["check", p.to_str().unwrap()], b"");
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains("lines of families not modeled yet: 1"),
        "{err}"
    );
    // A zoneinfo with no numbers, and one with no zones.
    let p = write_tmp("z1.txt", b"Node 0, zone      DMA\n  pages free     3\n");
    let (rc, _, err) = bootmm_rc(&["check", "--zoneinfo", p.to_str().unwrap()], b"");
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("nothing to check"), "{err}");
    let p = write_tmp("z0.txt", b"hello\n");
    let (rc, _, _) = bootmm_rc(&["check", "--zoneinfo", p.to_str().unwrap()], b"");
    assert_eq!(rc, 2);
    // inputs: an unusable log is an input error.
    let p = write_tmp("nomap.txt", b"Linux version 6.6.0 (x86_64)\n");
    let (rc, out, err) = bootmm_rc(&["inputs", p.to_str().unwrap()], b"");
    assert_eq!(rc, 2, "{out}{err}");
    assert!(
        out.contains("unusable: the log has no BIOS-e820 map"),
        "{out}"
    );
    // Versions that are no Linux release, and one newer than the model.
    for v in ["1.0", "99.0", "2.4.37", "3.20"] {
        let (rc, _, err) = bootmm_rc(&["boot", "--kernel", v], b"");
        assert_eq!(rc, 2, "{v}: {err}");
        assert!(
            err.contains("is not a Linux release bootmm models"),
            "{v}: {err}"
        );
    }
    let (rc, _, err) = bootmm_rc(&["boot", "--kernel", "7.1"], b"");
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains("newer than the newest release bootmm models (6.18)"),
        "{err}"
    );
    // A trace file that cannot be written fails before the boot prints anything.
    let (rc, out, err) = bootmm_rc(&["boot", "--trace-json", "/nonexistent/dir/x.json"], b"");
    assert_eq!(rc, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("--trace-json /nonexistent/dir/x.json"),
        "{err}"
    );
}

/// One damaged firmware-map line is reported with its line number; the rest of the map is read.
#[test]
fn a_bad_e820_line_is_reported_and_skipped() {
    let orig = corpus_text("dmesg/019-alienware-m11x-4g-3.16.txt");
    let lines: Vec<&str> = orig.lines().collect();
    let first = lines.iter().position(|l| l.contains("BIOS-e820:")).unwrap();
    let damage = |f: &dyn Fn(&str) -> String, at: usize| -> String {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i == at { f(l) } else { l.to_string() } + "\n")
            .collect()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown type",
            damage(&|l| l.replace("reserved", "bogus"), first + 1),
            "unknown e820 type \"bogus\"",
        ),
        (
            "end below start",
            damage(
                &|l| {
                    l.replace(
                        "0x000000000009f400-0x000000000009ffff",
                        "0x000000000009ffff-0x000000000009f400",
                    )
                },
                first + 1,
            ),
            "range end 0x9f400 below start 0x9ffff",
        ),
    ];
    for (what, text, why) in cases {
        let p = write_tmp("bad-e820.txt", text.as_bytes());
        let (rc, out, err) = bootmm_rc(&["check", p.to_str().unwrap()], b"");
        assert!(
            err.contains(&format!(
                "bad-e820.txt:{}: firmware map line not read ({why})",
                first + 2
            )),
            "{what}: {err}"
        );
        assert_eq!(
            rc, 0,
            "{what}: the rest of the map still boots the machine: {out}"
        );
    }
    // "ACPI  NVS" (two blanks) is still ACPI NVS; CR-only line ends are line ends.
    let p = write_tmp(
        "cr.txt",
        orig.replace("ACPI NVS", "ACPI  NVS")
            .replace('\n', "\r")
            .as_bytes(),
    );
    let (rc, out, err) = bootmm_rc(&["check", p.to_str().unwrap()], b"");
    assert_eq!(rc, 0, "{out}{err}");
    assert!(!err.contains("not read"), "{err}");
    // A first line with a byte that is not UTF-8 drops only that line: the map is there.
    let mut bytes = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if i == first {
            bytes.extend_from_slice(l.replace("usable", "us").as_bytes());
            bytes.extend_from_slice(b"\xffable");
        } else {
            bytes.extend_from_slice(l.as_bytes());
        }
        bytes.push(b'\n');
    }
    let p = write_tmp("first.txt", &bytes);
    let (rc, _, err) = bootmm_rc(&["boot", "--from-dmesg", p.to_str().unwrap()], b"");
    assert!(err.contains("firmware map line not read"), "{err}");
    assert_eq!(rc, 0, "{err}");
    // A damaged header: the map still starts at its first BIOS-e820 line.
    let text = orig.replace(
        "BIOS-provided physical RAM map:",
        "BIOS-provided physicol RAM mop:",
    );
    assert_ne!(text, orig);
    let p = write_tmp("header.txt", text.as_bytes());
    let (rc, out, err) = bootmm_rc(&["check", p.to_str().unwrap()], b"");
    assert_eq!(rc, 0, "{out}{err}");
    // A map with no line left: unusable, and said so.
    let text: String = lines
        .iter()
        .map(|l| if l.contains("BIOS-e820:") { l.replace("[mem", "[mam") } else { l.to_string() } + "\n")
        .collect();
    let p = write_tmp("none.txt", text.as_bytes());
    let (rc, _, err) = bootmm_rc(&["check", p.to_str().unwrap()], b"");
    assert_eq!(rc, 2);
    assert!(
        err.contains("none of the log's") && err.contains("BIOS-e820 lines could be read"),
        "{err}"
    );
}

/// Addresses past what x86_64 maps: the kernel's own handling, never a host mapping failure.
#[test]
fn addresses_beyond_the_architecture() {
    let p = write_tmp(
        "top.txt",
        b"0 0x9fc00 usable\n0x100000 +1G usable\n0xffffffffffff0000 +0xffff usable\n",
    );
    let (rc, out, err) = bootmm_rc(&["boot", "--e820", p.to_str().unwrap()], b"");
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains("WARNING: CPU: 0 PID: 0 at mm/sparse.c mminit_validate_memmodel_limits"),
        "{out}"
    );
    assert!(!err.contains("host address space"), "{err}");
    // One flipped hex digit makes a usable range 40 TiB long: refused before the boot
    // writes its struct pages (the budget here 1 GiB; the memmap of 40 TiB is 640 GiB).
    let orig = corpus_text("dmesg/019-alienware-m11x-4g-3.16.txt");
    let flipped = orig.replace(
        "BIOS-e820: [mem 0x0000000100000000-0x000000015fffffff] usable",
        "BIOS-e820: [mem 0x0000000100000000-0x000028015fffffff] usable",
    );
    assert_ne!(flipped, orig);
    let p = write_tmp("flipped.txt", flipped.as_bytes());
    for cmd in ["check", "boot"] {
        let mut args = vec![cmd];
        if cmd == "boot" {
            args.push("--from-dmesg");
        }
        args.extend([p.to_str().unwrap(), "--host-mem", "1G"]);
        let (rc, _, err) = bootmm_rc(&args, b"");
        // The check comes before the first struct page is written (memmap_init).
        assert!(
            err.contains("initialising up to ")
                && err.contains("over the host-memory budget of 1.0 GiB"),
            "{cmd}: {err}"
        );
        assert_ne!(rc, 0);
    }
    let (rc, out, err) = bootmm_rc(&["boot", "--cmdline", "memmap=1G@0xfffffffffffff000"], b"");
    assert_eq!(rc, 1);
    assert!(
        out.contains("Kernel panic - not syncing: Invalid user supplied memory map"),
        "{out}"
    );
    assert!(err.contains("Invalid user supplied memory map"), "{err}");
    let p = write_tmp("all.txt", b"0 +0xffffffffffffffff usable\n");
    let (rc, _, err) = bootmm_rc(&["boot", "--e820", p.to_str().unwrap()], b"");
    assert_eq!(rc, 1);
    assert!(err.contains("fewer than 2 entries"), "{err}");
    assert!(!err.contains("host address space"), "{err}");
}

/// The direct map's page tables are host memory too: bounded before init_mem_mapping writes
/// any. RAM past what the paging mode maps is refused with the mode named, and RAM past
/// bootmm's 46-bit section table under 5-level paging stops the boot as not modelled.
#[test]
fn page_tables_and_paging_modes_have_their_limits() {
    // 60 TiB in 2 MiB pages: 240 MiB of PMD pages (no log says whether the CPU has GB pages).
    let (rc, _, err) = bootmm_rc(&["boot", "--mem", "60T", "--host-mem", "100M"], b"");
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("init_mem_mapping: the direct map of 60.0 TiB of RAM in 2 MiB pages")
            && err.contains("would need 240.5 MiB more of host memory"),
        "{err}"
    );
    let (rc, _, err) = bootmm_rc(&["boot", "--mem", "65T"], b"");
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains("more RAM than x86_64 4-level paging maps") && err.contains("--la57"),
        "{err}"
    );
    let (rc, _, err) = bootmm_rc(&["boot", "--mem", "65T", "--la57"], b"");
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("not modelled yet: RAM past 64.0 TiB under 5-level paging"),
        "{err}"
    );
    let (rc, _, err) = bootmm_rc(&["boot", "--mem", "4P", "--la57"], b"");
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("even with 5-level paging"), "{err}");
}

/// Values past the kernel's limits are refused with the limit named.
#[test]
fn overflow_and_limits() {
    let cases: &[(&[&str], &str)] = &[
        (&["--mem", "16E"], "--mem \"16E\": does not fit in 64 bits"),
        (
            &["--numa-node", "0:0-16E"],
            "\"16E\" does not fit in 64 bits",
        ),
        (&["--cpus", "4294967295"], "at most 8192 (CONFIG_NR_CPUS)"),
        (
            &["--sysctl", "vm.min_free_kbytes=18446744073709551615"],
            "the kernel takes an integer from 0 to 2147483647",
        ),
        (
            &["--sysctl", "vm.lowmem_reserve_ratio=1 2 3 4 5 6"],
            "this kernel has 5 entries (DMA DMA32 Normal Movable Device), got 6",
        ),
        (
            &[
                "--kernel",
                "4.4",
                "--sysctl",
                "vm.watermark_scale_factor=10",
            ],
            "no such sysctl before 4.6",
        ),
        (
            &["--mem", "8G", "--nodes", "2", "--numa-distance", "0,1=256"],
            "a SLIT distance is one byte",
        ),
        // Sizes that would make the model allocate without bound.
        (&["--nodes", "4000000000"], "MAX_NUMNODES 64"),
        (
            &[
                "--mem",
                "8G",
                "--numa-node",
                "4000000000:0-8G",
                "--numa-distance",
                "0,1=20",
            ],
            "at most 256 (MAX_PXM_DOMAINS)",
        ),
    ];
    for (args, want) in cases {
        let mut a = vec!["boot"];
        a.extend_from_slice(args);
        let (rc, out, err) = bootmm_rc(&a, b"");
        assert_eq!(rc, 2, "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // The kernel keeps 2047 bytes of its command line: so does the model, and it says so.
    let long = "quiet ".repeat(20_000);
    let (rc, out, err) = bootmm_rc(&["boot", "--cmdline", &long], b"");
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains("the kernel keeps the first 2047 (COMMAND_LINE_SIZE 2048)"),
        "{err}"
    );
    let cmd = out
        .lines()
        .find(|l| l.starts_with("Command line: "))
        .unwrap();
    assert_eq!(cmd.len(), "Command line: ".len() + 2047);
}

/// A device or a runaway file given as an input is refused at its size limit, not read
/// without end.
#[test]
fn endless_inputs_are_refused_at_the_size_limit() {
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    for args in [
        &["boot", "--from-dmesg", "/dev/zero"][..],
        &["boot", "--e820", "/dev/zero"],
        &["check", "/dev/zero"],
        &["inputs", "/dev/zero"],
        &["diff", "/dev/zero", "--mem 1G"],
    ] {
        let (rc, _, err) = bootmm_rc(args, b"");
        assert_eq!(rc, 2, "{args:?}: {err}");
        assert!(err.contains("larger than 64 MiB"), "{args:?}: {err}");
    }
}
