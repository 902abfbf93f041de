// SPDX-License-Identifier: GPL-2.0-only
//! What each fuzz target (`fuzz/`) runs on one input, as plain functions: the targets call
//! them under libFuzzer, and `tests/fuzz_regressions.rs` runs every input a fuzzer ever
//! crashed on (`fuzz/regressions/TARGET/`) through them in the normal test suite. None may
//! panic, abort, or take the process past its host-memory budget, whatever the bytes.

use bootmm::klib::cmdline as kcmdline;
use bootmm::mm::zoneinfo::{check_zoneinfo, ZoneinfoCheckParams, ZoneinfoFile};

/// What a target runs on one input.
pub type Target = fn(&[u8]);

/// The targets, by name, for the regression runner.
pub const TARGETS: &[(&str, Target)] = &[
    ("e820_text", e820_text),
    ("dmesg", dmesg),
    ("cmdline", cmdline),
    ("script_bare", script_bare),
    ("zoneinfo", zoneinfo),
    ("zoneinfo_check", zoneinfo_check),
    ("slabinfo_check", slabinfo_check),
    ("check", check),
    ("script_booted", script_booted),
    ("diff_sides", diff_sides),
];

/// The e820 text forms `--e820 FILE` reads (START END TYPE, START +SIZE TYPE, copied
/// BIOS-e820 lines), then the kernel's own treatment of the map: sanitising, the
/// legacy fallback and the end-of-RAM scan.
pub fn e820_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = bootmm::machine::parse_e820_line(line);
        let _ = bootmm::machine::parse_e820_type(line);
    }
    let Ok(m) = bootmm::Machine::from_e820_text(&text) else {
        return;
    };
    let _ = m.phys_end();
    let mut e = bootmm::arch::x86::e820::E820::new(m.era.clone(), bootmm::Printk::new());
    if e.e820__memory_setup(&m.e820, None).is_ok() {
        let _ = e.e820__end_of_ram_pfn();
        e.trim_bios_range(0x10000);
        let _ = e.e820__end_of_ram_pfn();
    }
}

/// The boot-log reader: console prefixes, the inputs a log gives, the machine they make.
pub fn dmesg(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let inp = crate::logread::LogInputs::parse(&text);
    let _ = inp.describe();
    let _ = inp.missing();
    if let Ok((m, _)) = inp.to_machine_with_report() {
        let _ = m.phys_end();
        let _ = m.kernel_config();
    }
}

/// The kernel command line: lib/cmdline.c's numbers and words, and the early parameters
/// memory management reads (mem=, memmap=, kernelcore=/movablecore=, numa=), each as its
/// kernel handler takes it, on a QEMU 4 GiB map.
pub fn cmdline(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let kept = bootmm::machine::kernel_cmdline(&text);
    let _ = kcmdline::memparse(kept);
    let _ = kcmdline::memparse_checked(kept);
    let _ = kcmdline::get_option(kept);
    let _ = kcmdline::simple_strtoull(kept, 0);
    let _ = kcmdline::early_param_values(kept, "memmap");
    let m = bootmm::Machine::qemu_4g();
    let mut e = bootmm::arch::x86::e820::E820::new(m.era.clone(), bootmm::Printk::new());
    if e.e820__memory_setup(&m.e820, None).is_err() {
        return;
    }
    for a in kcmdline::split_args(kept) {
        match a.param {
            "mem" => {
                let _ = e.parse_memopt(a.val);
            }
            "memmap" => {
                let _ = e.parse_memmap_opt(a.val);
            }
            "kernelcore" | "movablecore" => {
                if let Some(v) = a.val {
                    let _ = bootmm::mm::mm_init::cmdline_parse_core(&m.era, v);
                }
            }
            _ => {}
        }
    }
    if e.e820__finish_early_params().is_ok() {
        let _ = e.e820__end_of_ram_pfn();
    }
    let mut with = m.clone();
    with.cmdline = kept.to_string();
    let _ = with.phys_end();
}

/// The script lexer, parser and interpreter on a bare kernel (empty memblock, as the
/// kernel's memblock tests run): every line of the input, on a fresh kernel each run,
/// within a 256 MiB host-memory budget.
pub fn script_bare(data: &[u8]) {
    bootmm::phys::set_host_budget(256 << 20);
    let Ok(mut k) = bootmm::Kernel::bare(bootmm::Era::default()) else {
        return;
    };
    let mut it = bootmm::script::Interpreter::for_kernel(&mut k);
    for (i, line) in data.split(|&b| b == b'\n').take(64).enumerate() {
        if line.len() > 4096 {
            break;
        }
        if let Ok(t) = std::str::from_utf8(line) {
            let _ = it.run_line(&mut k, i + 1, t);
        }
    }
}

/// The /proc/zoneinfo reader: every record and what the layout tells of the kernel.
pub fn zoneinfo(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(f) = ZoneinfoFile::parse(&text) else {
        return;
    };
    let _ = f.online_cpus();
    let _ = f.nodes();
    let _ = f.infer_eras();
}

/// `check --zoneinfo`: the watermarks, protection and pagesets recomputed, and the search
/// for a boot-time snapshot that explains them (bounded: each input takes at most about a
/// second).
pub fn zoneinfo_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(f) = ZoneinfoFile::parse(&text) else {
        return;
    };
    if let Ok(r) = check_zoneinfo(&f, &ZoneinfoCheckParams::default()) {
        let _ = r.render(true);
        let _ = r.summary();
    }
}

/// `check --slabinfo` on a (mutated) /proc/slabinfo: parse, infer the CPU count and the
/// rules, recompute every row, render.
pub fn slabinfo_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = crate::check_slabinfo::check("fuzz", &text, None, None, None) {
        let _ = r.render(true);
        let _ = serde_json::to_string(&r);
    }
}

/// A whole `bootmm check` of a (mutated) boot log: read its inputs, boot the machine they
/// describe, compare every predicted line, render the report. Within a 512 MiB host-memory
/// budget: a log describing more RAM than that allows is refused, as on the command line.
pub fn check(data: &[u8]) {
    bootmm::phys::set_host_budget(512 << 20);
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = crate::check::check_text(&text, "fuzz") {
        let _ = r.render_text(true);
        let _ = r.exit_status();
        let _ = serde_json::to_string(&r);
    }
}

/// A script on a booted machine: the first line chooses the machine (its RAM, CPUs, era
/// and command line, as `--mem`, `--cpus`, `--kernel`, `--cmdline` would; an era written
/// `pae:3.8` or `i386:4.15` also gives `--i386`), the machine
/// boots, and the other lines run on it (page allocator calls, /proc files, memblock).
/// Within a 512 MiB host-memory budget.
pub fn script_booted(data: &[u8]) {
    bootmm::phys::set_host_budget(512 << 20);
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let head = lines.next().unwrap_or("");
    // "MEM CPUS VERSION CMDLINE...", each optional.
    let mut w = head.splitn(4, ' ');
    let mem = w
        .next()
        .and_then(|m| bootmm::klib::cmdline::memparse_checked(m).ok())
        .map_or(64 << 20, |(v, _)| v.clamp(16 << 20, 2 << 30));
    let cpus = w
        .next()
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 64);
    // VERSION may carry an architecture: "pae:3.8" or "i386:4.15" boots a 32-bit kernel.
    let version = w.next();
    let (i386, kernel) = match version.and_then(|v| v.split_once(':')) {
        Some((a @ ("pae" | "i386"), v)) => (Some(String::from(a)), Some(String::from(v))),
        _ => (None, version.map(String::from)),
    };
    let args = crate::machine_args::MachineArgs {
        mem: Some(format!("{mem}")),
        cpus: Some(cpus),
        kernel,
        i386,
        cmdline: w.next().map(String::from),
        ..Default::default()
    };
    let Ok(mut k) = crate::boot::boot_machine(&args) else {
        return;
    };
    k.printk.drain();
    let mut it = bootmm::script::Interpreter::for_kernel(&mut k);
    for (i, line) in lines.take(200).enumerate() {
        let _ = it.run_line(&mut k, i + 2, line);
    }
}

/// `bootmm diff`'s two sides (the input's first two lines), split as a shell would and read
/// as `boot`'s machine options, and the machines they describe built (not booted).
pub fn diff_sides(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let (a, b) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let _ = crate::diff::parse_sides(a, b);
}
