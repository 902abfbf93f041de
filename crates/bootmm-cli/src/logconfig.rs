//! Build facts a boot log reveals only indirectly (shared/spec/log-inputs-and-predictions.md):
//! the configured zone set, `sizeof(struct page)` and NUMA support. Each inference is returned
//! with a note, so `check` lists it among the inputs.

use bootmm::machine::ConfigFacts;
use bootmm::{Arch, Era};

use crate::logread::CleanLine;

/// Infer what the log shows of the kernel's configuration; push a note per inference.
pub fn infer(era: &Era, lines: &[CleanLine], notes: &mut Vec<String>) -> ConfigFacts {
    let mut f = ConfigFacts::default();
    let text = |i: usize| lines[i].text.as_str();

    // The zone set: the names in the log's own "Zone ranges:" block.
    if let Some(i) =
        (0..lines.len()).find(|&i| text(i) == "Zone ranges:" || text(i) == "Zone PFN ranges:")
    {
        let names: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.text.starts_with("  "))
            .filter_map(|l| l.text.split_whitespace().next())
            .collect();
        let has = |n: &str| names.contains(&n);
        if !names.is_empty() {
            f.zones = Some((has("DMA"), has("DMA32"), has("HighMem"), has("Device")));
            notes.push(format!(
                "zone set from the log's Zone ranges block (line {}): {}",
                lines[i].line,
                names.join(", ")
            ));
        }
    }

    // sizeof(struct page): SLUB kernels since 3.2 pad it to 64 bytes (HAVE_ALIGNED_STRUCT_PAGE)
    // on x86_64; SLAB kernels (no "SLUB:" line) have 56. i386: 32, or 40 with MEMCG from 4.6.
    let slub = lines.iter().find(|l| l.text.starts_with("SLUB: "));
    let size = match era.arch {
        Arch::X86_64 if era.at_least(3, 2) && slub.is_some() => 64,
        Arch::X86_64 => 56,
        Arch::I386 { .. } if era.at_least(4, 6) => 40,
        Arch::I386 { .. } => 32,
    };
    f.struct_page_size = Some(size);
    notes.push(match (era.arch, slub) {
        (Arch::X86_64, Some(l)) => format!(
            "sizeof(struct page) = {size}: SLUB kernel (line {})",
            l.line
        ),
        (Arch::X86_64, None) => {
            format!("sizeof(struct page) = {size}: no SLUB line, a SLAB kernel")
        }
        _ => format!("sizeof(struct page) = {size}: typical i386 build of this era"),
    });

    // CONFIG_NUMA shows in the NUMA lines only NUMA kernels print.
    let numa_line = lines.iter().find(|l| {
        let t = l.text.as_str();
        t == "No NUMA configuration found"
            || t.starts_with("NODE_DATA(")
            || t.starts_with("Faking a node at")
            || t.starts_with("SRAT: ")
            || t.starts_with("ACPI: SRAT: ")
            || t.starts_with("NUMA: ")
    });
    match numa_line {
        Some(l) => {
            f.numa = Some(true);
            notes.push(format!("CONFIG_NUMA=y: line {}: {}", l.line, l.text));
        }
        None => {
            f.numa = Some(false);
            notes.push(String::from("CONFIG_NUMA unset: the log has no NUMA line"));
        }
    }

    // CONFIG_NUMA_EMU: a kernel without it refuses numa=fake= as a malformed option.
    let cmdline_fakes = lines.iter().any(|l| {
        (l.text.starts_with("Command line: ") || l.text.starts_with("Kernel command line: "))
            && l.text
                .split_whitespace()
                .any(|w| w.starts_with("numa=fake="))
    });
    if let Some(l) = lines
        .iter()
        .find(|l| l.text == "Malformed early option 'numa'")
        .filter(|_| cmdline_fakes)
    {
        f.numa_emu = Some(false);
        notes.push(format!(
            "CONFIG_NUMA_EMU unset: numa=fake= refused (line {}: {})",
            l.line, l.text
        ));
    }

    // CONFIG_DEFERRED_STRUCT_PAGE_INIT (4.2+): page_alloc_init_late reports the deferred pages
    // ("node N initialised, …" before 5.x, "node N deferred pages initialised in …" after).
    // A log that goes on past SMP bring-up without that line was built without it.
    if era.at_least(4, 2) {
        let said = lines.iter().find(|l| {
            (l.text.starts_with("node ")
                && (l.text.contains(" deferred pages initialised in ")
                    || l.text.contains(" initialised, ")))
                || l.text.starts_with("deferred_init=lazy: ")
        });
        let past_smp = lines.iter().find(|l| {
            l.text.starts_with("smp: Brought up ")
                || l.text.starts_with("Brought up ")
                || l.text.starts_with("x86: Booted up ")
        });
        match (said, past_smp) {
            (Some(l), _) => {
                f.deferred_struct_page_init = Some(true);
                notes.push(format!(
                    "deferred struct page init: on (line {}: {})",
                    l.line, l.text
                ));
            }
            (None, Some(l)) => {
                f.deferred_struct_page_init = Some(false);
                notes.push(format!(
                    "deferred struct page init: off (no deferred-pages line after line {}: {})",
                    l.line, l.text
                ));
            }
            (None, None) => {}
        }
    }
    f
}

/// The printk buffer's build sizes (CONFIG_LOG_BUF_SHIFT, CONFIG_LOG_CPU_MAX_BUF_SHIFT), from
/// the lines `setup_log_buf` and `log_buf_add_cpu` print, or from their absence: a log that
/// shows the kernel command line and no `log_buf_len` line had a static buffer big enough
/// for the CPU share (the smallest such size, at least the Kconfig default, is taken).
pub fn infer_log_buf(
    f: &mut ConfigFacts,
    lines: &[CleanLine],
    cpus: u32,
    cmdline: &str,
    notes: &mut Vec<String>,
) {
    let body = |l: &CleanLine| -> String {
        let t = l.text.as_str();
        String::from(t.strip_prefix("printk: ").unwrap_or(t))
    };
    let bytes = |t: &str, prefix: &str| -> Option<u64> {
        t.strip_prefix(prefix)?.strip_suffix(" bytes")?.parse().ok()
    };
    let shift_of = |n: u64| (n.is_power_of_two() && n >= 1 << 12).then(|| n.trailing_zeros());
    for l in lines {
        let t = body(l);
        if let Some(s) =
            bytes(&t, "log_buf_len individual max cpu contribution: ").and_then(shift_of)
        {
            f.log_cpu_max_buf_shift = Some(s);
            notes.push(format!(
                "CONFIG_LOG_CPU_MAX_BUF_SHIFT={s} (line {}: {})",
                l.line, l.text
            ));
        }
        if let Some(s) = bytes(&t, "log_buf_len min size: ").and_then(shift_of) {
            f.log_buf_shift = Some(s);
            notes.push(format!(
                "CONFIG_LOG_BUF_SHIFT={s} (line {}: {})",
                l.line, l.text
            ));
        }
    }
    if f.log_buf_shift.is_some() {
        return;
    }
    // "early log buf free: F(P%)": F of 1 << shift bytes were free, P = F * 100 >> shift.
    for l in lines {
        let t = body(l);
        let Some(rest) = t.strip_prefix("early log buf free: ") else {
            continue;
        };
        let Some((free, pct)) = rest.strip_suffix("%)").and_then(|r| r.split_once('(')) else {
            continue;
        };
        let (Ok(free), Ok(pct)) = (free.parse::<u64>(), pct.parse::<u64>()) else {
            continue;
        };
        if let Some(s) = (12..=25).find(|&s| free <= 1 << s && (free * 100) >> s == pct) {
            f.log_buf_shift = Some(s);
            notes.push(format!(
                "CONFIG_LOG_BUF_SHIFT={s} (line {}: {})",
                l.line, l.text
            ));
            return;
        }
    }
    let said = lines
        .iter()
        .any(|l| body(l).starts_with("log_buf_len") || body(l).starts_with("early log buf"));
    let cmd = lines
        .iter()
        .find(|l| l.text.starts_with("Kernel command line: "));
    let asked = bootmm::klib::cmdline::split_args(cmdline)
        .iter()
        .any(|a| a.param == "log_buf_len");
    if let (false, false, Some(c)) = (said, asked, cmd) {
        let extra = u64::from(cpus.saturating_sub(1)) << f.log_cpu_max_buf_shift.unwrap_or(12);
        let s = (17..=25).find(|&s| extra <= (1u64 << s) / 2).unwrap_or(25);
        if s != 17 {
            f.log_buf_shift = Some(s);
            notes.push(format!(
                "CONFIG_LOG_BUF_SHIFT>={s}: no log_buf_len line after line {} with {cpus} CPUs",
                c.line
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootmm::KernelVersion;

    fn lines(t: &[&str]) -> Vec<CleanLine> {
        t.iter()
            .enumerate()
            .map(|(i, s)| CleanLine {
                line: i + 1,
                text: s.to_string(),
            })
            .collect()
    }

    #[test]
    fn zone_names_struct_page_and_numa() {
        let era = Era::new(KernelVersion::new(4, 4, 0), Arch::X86_64);
        let l = lines(&[
            "No NUMA configuration found",
            "Zone ranges:",
            "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
            "  DMA32    [mem 0x0000000001000000-0x00000000ffffffff]",
            "  Normal   empty",
            "Movable zone start for each node",
            "SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=8, Nodes=1",
        ]);
        let mut n = Vec::new();
        let f = infer(&era, &l, &mut n);
        assert_eq!(f.zones, Some((true, true, false, false)));
        assert_eq!(f.struct_page_size, Some(64));
        assert_eq!(f.numa, Some(true));
        assert_eq!(n.len(), 3);
    }

    #[test]
    fn slab_kernels_have_56_byte_pages_and_no_numa_lines_mean_no_numa() {
        let era = Era::new(KernelVersion::new(3, 13, 0), Arch::X86_64);
        let mut n = Vec::new();
        let f = infer(&era, &lines(&["Zone ranges:", "  DMA      empty"]), &mut n);
        assert_eq!(f.struct_page_size, Some(56));
        assert_eq!(f.numa, Some(false));
    }

    #[test]
    fn log_buf_shift_from_the_printk_lines() {
        let mut n = Vec::new();
        let mut f = ConfigFacts::default();
        // 2091376 bytes free of 1 << 21 is 99%; of 1 << 22 it would be 49%.
        let l = lines(&[
            "log_buf_len: 16777216 bytes",
            "early log buf free: 2091376(99%)",
        ]);
        infer_log_buf(&mut f, &l, 4, "log_buf_len=10M", &mut n);
        assert_eq!(f.log_buf_shift, Some(21));
        let mut f = ConfigFacts::default();
        let l = lines(&[
            "printk: log_buf_len individual max cpu contribution: 8192 bytes",
            "printk: log_buf_len min size: 262144 bytes",
        ]);
        infer_log_buf(&mut f, &l, 128, "", &mut n);
        assert_eq!(
            (f.log_buf_shift, f.log_cpu_max_buf_shift),
            (Some(18), Some(13))
        );
        // No line at all past the command line: the static buffer held 31 CPUs' share.
        let mut f = ConfigFacts::default();
        let l = lines(&["Kernel command line: ro", "Memory: 1K/2K available"]);
        infer_log_buf(&mut f, &l, 32, "ro", &mut n);
        assert_eq!(f.log_buf_shift, Some(18));
        let mut f = ConfigFacts::default();
        infer_log_buf(&mut f, &l, 8, "ro", &mut n);
        assert_eq!(f.log_buf_shift, None);
    }
}
