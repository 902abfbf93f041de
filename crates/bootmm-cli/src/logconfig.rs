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
}
