//! Reading a real boot log: console prefixes removed, and the lines that describe the machine
//! (the inputs) picked out, each with the line it came from.
//!
//! A boot log mixes facts the kernel was given (firmware map, command line, build sizes, CPU
//! count) with numbers it computed. `bootmm boot --from-dmesg` and `bootmm check` must take
//! only the former as inputs; see `shared/spec/log-inputs-and-predictions.md`. Anything the
//! log lacks is filled with a documented default, and each default is reported.

use std::fmt::Write as _;

use bootmm::arch::x86::e820::{setup_data_updates_kexec_table, E820Entry, E820Type};
use bootmm::machine::{
    parse_e820_line, parse_e820_type, BiosDataArea, E820LogOp, E820OpKind, E820OpStage,
    FirmwareNuma, Hypervisor, KernelImage, Slit, SratCpu, SratMemory, DEFAULT_NR_CPUS,
};
use bootmm::{Arch, Era, KernelVersion, Machine};

/// One log line with its console prefixes removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The kernel's text (leading spaces the kernel printed are kept).
    pub text: String,
}

/// A value read from the log, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub line: usize,
    pub text: String,
}

/// The kernel image facts a log gives: the "Memory:" line sizes (KiB; `None` where that
/// era's line lacks the field) and the exact reserved extent from memblock=debug.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSizes {
    pub code_k: Option<u64>,
    pub rwdata_k: Option<u64>,
    pub rodata_k: Option<u64>,
    pub init_k: Option<u64>,
    pub bss_k: Option<u64>,
}

/// Everything the reader found.
#[derive(Clone, Debug, Default)]
pub struct LogInputs {
    /// All lines, cleaned, with their line numbers (for the checker).
    pub lines: Vec<CleanLine>,
    /// `Linux version …`: version, release string, architecture.
    pub version: Option<Sourced<(KernelVersion, String, Arch)>>,
    /// How the architecture was decided, when not from the release string.
    pub arch_inference: Option<String>,
    /// `Command line:` (setup_arch's boot_command_line).
    pub command_line: Option<Sourced<String>>,
    /// `Kernel command line:` (start_kernel's saved_command_line).
    pub kernel_command_line: Option<Sourced<String>>,
    /// The firmware map (`BIOS-e820:` lines, either form).
    pub e820: Vec<Sourced<E820Entry>>,
    /// Firmware-dictated `e820: update/remove` lines (not the kernel's low-memory fixups).
    pub e820_ops: Vec<Sourced<E820LogOp>>,
    /// setup_data blobs, from `usable ==> usable` updates before the kernel's fixups.
    pub setup_data: Vec<Sourced<(u64, u64)>>,
    /// `RAMDISK:` start and size.
    pub ramdisk: Option<Sourced<(u64, u64)>>,
    /// Possible CPUs (`nr_cpu_ids`).
    pub cpus: Option<Sourced<u32>>,
    /// CONFIG_NR_CPUS.
    pub nr_cpus: Option<Sourced<u32>>,
    /// Kernel section sizes from `Memory:`.
    pub image: Option<Sourced<ImageSizes>>,
    /// The static and reserved per-CPU sizes (`s`, `r`) of `percpu: Embedded …` (or
    /// `PERCPU: Embedded …`); its pages, `d` and `u` are predictions.
    pub percpu_sizes: Option<Sourced<(u64, u64)>>,
    /// i386: the permanent fixmap slots, from mem_init's `fixmap  : 0x… - 0xfffff000` line
    /// (a build fact that sets where pkmap, vmalloc and so lowmem end).
    pub fixmap_slots: Option<Sourced<u64>>,
    /// `[_text, end)` from the first `memblock_reserve:` line (memblock=debug).
    pub image_extent: Option<Sourced<(u64, u64)>>,
    /// `Hypervisor detected: …`.
    pub hypervisor: Option<Sourced<Hypervisor>>,
    /// SRAT processor affinity (`SRAT: PXM p -> APIC 0x.. -> Node n`).
    pub srat_cpus: Vec<Sourced<SratCpu>>,
    /// SRAT memory affinity (`ACPI: SRAT: Node n PXM p [mem …]`, 3.x without `ACPI: `).
    pub srat_memory: Vec<Sourced<SratMemory>>,
    /// The firmware has a SLIT (`ACPI: SLIT 0x…` table line); its distances are not printed.
    pub slit: Option<Sourced<()>>,
    /// CONFIG_NUMA, inferred: NUMA preamble lines present (true), or the zone lines without
    /// any of them (false).
    pub numa_kernel: Option<Sourced<bool>>,
    /// The bytes the first `NODE_DATA` line covers: `sizeof(pg_data_t)` rounded as that
    /// era's `alloc_node_data` rounds it.
    pub node_data_size: Option<Sourced<u64>>,
    /// `Using GB pages for direct mapping` (printed whenever the direct map uses 1 GiB pages).
    pub gbpages_line: Option<Sourced<()>>,
    /// `mapped APIC to ffffffffff7fc000 (        fee00000)` (apic=debug): the fixmap address.
    pub apic_fixmap: Option<Sourced<u64>>,
    /// 2.6's early reservation list: the `BRK` entry's used bytes (`extend_brk` before
    /// `reserve_brk`).
    pub early_brk: Option<Sourced<u64>>,
    /// `BRK [a, b] PGTABLE` lines (KERN_DEBUG, until 5.6): the first one's address (the
    /// start of the brk page-table buffer) and how many there are.
    pub brk_pgtable: Option<Sourced<(u64, u64)>>,
    /// 5-level paging: the `last_pfn` lines name `max_arch_pfn = 0x10000000000`.
    pub la57: bool,
    /// The SMP bring-up lines (`.... node  #N, CPUs:   #a #b`, and their continuation
    /// lines of `#c` only): the node each secondary CPU came up on.
    pub cpu_nodes: Vec<Sourced<(u32, u32)>>,
    /// `Faking node N at …` lines (NUMA emulation): the emulated node ids, in order.
    pub fake_nodes: Vec<Sourced<i32>>,
    /// Lines that look like inputs but cannot be read (a damaged firmware-map line), with
    /// why; reading goes on without them.
    pub unreadable: Vec<Sourced<String>>,
}

/// The lines of a log: ended by `\n`, `\r\n` or a lone `\r` (some console captures).
fn log_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

/// `[a - b]` with inclusive 2.6.x hex bounds (`  NODE_DATA [0000000000009000 - 0000000000010fff]`).
fn old_range(s: &str) -> Option<(u64, u64)> {
    let i = s.find('[')?;
    let r = &s[i + 1..];
    let j = r.find(']')?;
    let (a, b) = r[..j].split_once(" - ")?;
    let (a, b) = (hex_num(a.trim())?, hex_num(b.trim())?);
    (b >= a).then_some(())?;
    Some((a, b.checked_add(1)?))
}

/// The size a NODE_DATA line shows: `NODE_DATA(n) allocated [mem a-b]` (3.17+),
/// `  NODE_DATA [mem a-b]` (3.x) or `  NODE_DATA [a - b]` (2.6.x).
fn node_data_line_size(t: &str) -> Option<u64> {
    let t = t.trim_start();
    if t.starts_with("NODE_DATA(") && t.contains(" allocated ") {
        let (a, b, _) = mem_range(t)?;
        return b.checked_sub(a);
    }
    if let Some(r) = t.strip_prefix("NODE_DATA [") {
        let whole = format!("[{r}");
        if let Some((a, b, _)) = mem_range(&whole) {
            return b.checked_sub(a);
        }
        let (a, b) = old_range(&whole)?;
        return b.checked_sub(a);
    }
    None
}

/// `SRAT: Node n PXM p [mem a-b][ hotplug][ non-volatile]`, with or without `ACPI: `.
fn parse_srat_memory(t: &str) -> Option<SratMemory> {
    let r = t
        .strip_prefix("ACPI: ")
        .unwrap_or(t)
        .strip_prefix("SRAT: Node ")?;
    let (nid, r) = num_after(r, "")?;
    let (pxm, r) = num_after(r, " PXM ")?;
    let (start, end, rest) = mem_range(r)?;
    Some(SratMemory {
        pxm,
        nid,
        start,
        end,
        hotplug: rest.contains("hotplug"),
        nonvolatile: rest.contains("non-volatile"),
    })
}

/// `SRAT: PXM p -> APIC 0x.. -> Node n`.
fn parse_srat_cpu(t: &str) -> Option<SratCpu> {
    let r = t.strip_prefix("SRAT: PXM ")?;
    let (pxm, r) = num_after(r, "")?;
    let r = r.strip_prefix(" -> APIC ")?;
    let (apic, r) = r.split_once(" -> Node ")?;
    let apic = hex_num(apic)? as u32;
    let (nid, _) = num_after(r, "")?;
    Some(SratCpu { pxm, apic, nid })
}

/// A line only a CONFIG_NUMA x86 kernel prints.
fn is_numa_preamble(t: &str) -> bool {
    t == "No NUMA configuration found"
        || t == "NUMA turned off"
        || t.starts_with("Faking a node at ")
        || t.starts_with("NODE_DATA(")
        || t.starts_with("NODE_DATA [")
        || t.starts_with("NUMA: Node ")
        || t.starts_with("Bootmem setup node ")
}

/// Remove console prefixes: syslog `Mon DD hh:mm:ss host kernel: `, `<N>` levels,
/// `[    0.000000] ` and `[Day Mon DD hh:mm:ss YYYY] ` stamps, trailing CR.
pub fn clean_line(raw: &str) -> String {
    let mut s = raw.trim_end_matches(['\r', '\n']);
    // Syslog: "Jul 28 23:49:12 debian kernel: " (or an ISO date) before the kernel text.
    if let Some(i) = s.find(" kernel: ") {
        let head = &s[..i];
        if i < 80 && head.contains(':') && !head.contains('[') {
            s = &s[i + " kernel: ".len()..];
        }
    }
    // "<6>" level.
    if let Some(r) = s.strip_prefix('<') {
        if let Some(j) = r.find('>') {
            if j > 0 && j <= 3 && r[..j].bytes().all(|c| c.is_ascii_digit()) {
                s = &r[j + 1..];
            }
        }
    }
    // "[    0.000000] " or "[Sat Oct 16 18:15:28 2021] ".
    if let Some(r) = s.strip_prefix('[') {
        if let Some(j) = r.find(']') {
            let inner = &r[..j];
            let is_time = !inner.is_empty()
                && inner
                    .trim()
                    .bytes()
                    .all(|c| c.is_ascii_digit() || c == b'.')
                && inner.contains('.');
            let is_date = inner.len() >= 20
                && inner.bytes().filter(|&c| c == b':').count() == 2
                && inner.split_whitespace().count() == 5;
            if is_time || is_date {
                let rest = &r[j + 1..];
                s = rest.strip_prefix(' ').unwrap_or(rest);
            }
        }
    }
    // journalctl -o short-monotonic: "[    0.000000] host kernel: " (or just "kernel: ")
    // after the stamp.
    if let Some(r) = s.strip_prefix("kernel: ") {
        s = r;
    } else if let Some(i) = s.find(" kernel: ") {
        let host = &s[..i];
        if !host.is_empty() && !host.contains(char::is_whitespace) && !host.contains(':') {
            s = &s[i + " kernel: ".len()..];
        }
    }
    s.to_string()
}

/// One entry of 2.6's early reservation list, `#N [start - end] NAME ==> [...]` (the ` ==> `
/// part absent for an entry outside the node): `(start, end, name)`.
fn parse_early_res(t: &str) -> Option<(u64, u64, &str)> {
    let r = t.strip_prefix('#')?;
    let (idx, r) = r.split_once(' ')?;
    idx.parse::<u32>().ok()?;
    let (range, rest) = r.strip_prefix('[')?.split_once(']')?;
    let (a, b) = range.split_once(" - ")?;
    let (a, b) = (hex_num(a.trim())?, hex_num(b.trim())?);
    let name = rest.split(" ==> ").next()?.trim();
    (a < b && !name.is_empty()).then_some((a, b, name))
}

fn hex_num(s: &str) -> Option<u64> {
    let d = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    if d.is_empty() {
        return None;
    }
    u64::from_str_radix(d, 16).ok()
}

/// `[mem 0xA-0xB]` → (A, B + 1); `None` when B is below A (the kernel never prints that).
fn mem_range(s: &str) -> Option<(u64, u64, &str)> {
    let i = s.find("[mem ")?;
    let r = &s[i + 5..];
    let j = r.find(']')?;
    let (a, b) = r[..j].split_once('-')?;
    let (a, b) = (hex_num(a)?, hex_num(b)?);
    if b < a {
        return None;
    }
    Some((a, b.checked_add(1)?, &r[j + 1..]))
}

fn num_after<'a>(s: &'a str, key: &str) -> Option<(u32, &'a str)> {
    let i = s.find(key)?;
    let r = &s[i + key.len()..];
    let d = r.bytes().take_while(|c| c.is_ascii_digit()).count();
    Some((r[..d].parse().ok()?, &r[d..]))
}

fn k_before(s: &str, name: &str) -> Option<u64> {
    // "18470K kernel code" / "2860k kernel code"
    let i = s.find(&format!(" {name}"))?;
    let head = s[..i].trim_end();
    let head = head.strip_suffix(['K', 'k'])?;
    let d = head
        .bytes()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    head[head.len() - d..].parse().ok()
}

fn arch_from_release(release: &str, full: &str) -> Option<Arch> {
    let r = release.to_ascii_lowercase();
    if r.contains("pae") {
        return Some(Arch::I386 { pae: true });
    }
    if r.contains("686") || r.contains("i386") || r.contains("i586") {
        return Some(Arch::I386 { pae: false });
    }
    if r.contains("x86_64") || r.contains("amd64") || full.contains("x86_64") {
        return Some(Arch::X86_64);
    }
    None
}

fn is_kernel_fixup(start: u64, end: u64, kind: &E820OpKind) -> bool {
    match kind {
        // trim_bios_range's first page (or reserve_low, 2.6.36 … 3.8) and 2.6.32's 64 KiB
        // low-memory quirk.
        E820OpKind::Update { old, new } => {
            start == 0
                && (end == 0x1000 || end == 0x10000)
                && *old == E820Type::Ram
                && *new == E820Type::Reserved
        }
        E820OpKind::Remove { old } => {
            start == 0xa0000 && end == 0x10_0000 && *old == Some(E820Type::Ram)
        }
    }
}

/// Parse "e820: update [mem …] a ==> b", "e820: remove [mem …] a",
/// "e820 update range: A - B (a) ==> (b)", "e820 remove range: A - B (a)".
fn parse_e820_op(t: &str) -> Option<(u64, u64, E820OpKind)> {
    let types = |rest: &str| -> Option<E820OpKind> {
        let rest = rest.trim();
        if let Some((a, b)) = rest.split_once("==>") {
            let (a, b) = (a.trim(), b.trim());
            let old = parse_e820_type(a)?;
            let mut new = parse_e820_type(b)?;
            // RESERVED_KERN prints as "usable".
            if old == E820Type::Ram && new == E820Type::Ram {
                new = E820Type::ReservedKern;
            }
            Some(E820OpKind::Update { old, new })
        } else if rest.is_empty() {
            Some(E820OpKind::Remove { old: None })
        } else {
            Some(E820OpKind::Remove {
                old: Some(parse_e820_type(rest)?),
            })
        }
    };
    if let Some(r) = t
        .strip_prefix("e820: update ")
        .or_else(|| t.strip_prefix("e820: remove "))
    {
        let (a, b, rest) = mem_range(r)?;
        let k = types(rest)?;
        let is_update = t.starts_with("e820: update");
        if is_update != matches!(k, E820OpKind::Update { .. }) {
            return None;
        }
        return Some((a, b, k));
    }
    if let Some(r) = t
        .strip_prefix("e820 update range: ")
        .or_else(|| t.strip_prefix("e820 remove range: "))
    {
        let (a, r) = r.split_once(" - ")?;
        let r = r.trim_start();
        let n = r.find(' ').unwrap_or(r.len());
        let (b, rest) = r.split_at(n);
        let (a, b) = (hex_num(a)?, hex_num(b)?);
        return (b >= a)
            .then(|| (a, b, types(rest)))
            .and_then(|(a, b, t)| Some((a, b, t?)));
    }
    None
}

fn mk<T>(cl: &CleanLine, value: T) -> Sourced<T> {
    Sourced {
        value,
        line: cl.line,
        text: cl.text.clone(),
    }
}

impl LogInputs {
    /// Read a log's text. Never fails: what is not found is simply missing.
    pub fn parse(text: &str) -> LogInputs {
        let mut inp = LogInputs::default();
        let raw: Vec<&str> = log_lines(text);
        // The corpus header: "# key: value" lines ended by "# ---".
        let mut first = 0;
        if raw.first().is_some_and(|l| l.starts_with('#')) {
            if let Some(end) = raw.iter().take(64).position(|l| l.trim_end() == "# ---") {
                first = end + 1;
            }
        }
        // dmesg indents the later lines of a multi-line record by the width of the prefix it
        // stripped from the first ("[    0.000000] "): those spaces are not the kernel's.
        let mut prefix = 0usize;
        for (i, r) in raw.iter().enumerate().skip(first) {
            let mut text = clean_line(r);
            let stripped = r.trim_end_matches(['\r', '\n']).len() - text.len();
            if stripped > 0 {
                prefix = stripped;
            } else if prefix > 0
                && !r.starts_with('[')
                && text.len() > prefix
                && text.as_bytes()[..prefix].iter().all(|&b| b == b' ')
            {
                text.drain(..prefix);
            }
            inp.lines.push(CleanLine { line: i + 1, text });
        }

        let mut in_map = false;
        let mut map_done = false;
        let mut seen_fixups = false;
        let mut lastpfn_count = 0usize;
        let mut lastpfn_after_fixups = 0usize;
        let mut max_arch_pfn: Option<u64> = None;
        let mut cpus_rank = 0u8;
        let mut bringup_node: Option<u32> = None;
        let lines = inp.lines.clone();
        for cl in &lines {
            let t = cl.text.trim_start();
            // ".... node  #1, CPUs:   #12 #13", then lines of "#n" alone (pr_cont wraps).
            let cpu_list = if let Some(r) = t.strip_prefix(".... node") {
                let r = r.trim_start().strip_prefix('#');
                let (n, rest) = match r.and_then(|r| r.split_once(", CPUs:")) {
                    Some((n, rest)) => (n.trim().parse::<u32>().ok(), rest),
                    None => (None, ""),
                };
                bringup_node = n;
                n.map(|_| rest)
            } else if bringup_node.is_some()
                && !t.is_empty()
                && t.split_whitespace().all(|w| w.starts_with('#'))
            {
                Some(t)
            } else {
                bringup_node = None;
                None
            };
            if let (Some(list), Some(node)) = (cpu_list, bringup_node) {
                for w in list.split_whitespace() {
                    if let Some(cpu) = w.strip_prefix('#').and_then(|c| c.parse::<u32>().ok()) {
                        inp.cpu_nodes.push(mk(cl, (cpu, node)));
                    }
                }
                continue;
            }
            if inp.version.is_none() {
                if let Some(r) = t.strip_prefix("Linux version ") {
                    let release = r.split_whitespace().next().unwrap_or("").to_string();
                    if let Some(v) =
                        KernelVersion::parse(&release).map(|v| bootmm::era::upstream_version(v, r))
                    {
                        let arch = arch_from_release(&release, r);
                        if arch.is_none() {
                            inp.arch_inference =
                                Some(String::from("no architecture in the release string"));
                        }
                        inp.version = Some(mk(cl, (v, release, arch.unwrap_or(Arch::X86_64))));
                    }
                    continue;
                }
            }
            if let Some(r) = t.strip_prefix("Command line: ") {
                inp.command_line.get_or_insert(mk(cl, r.to_string()));
                continue;
            }
            if let Some(r) = t.strip_prefix("Kernel command line: ") {
                inp.kernel_command_line.get_or_insert(mk(cl, r.to_string()));
                continue;
            }
            if t.ends_with("BIOS-provided physical RAM map:") {
                in_map = !map_done;
                continue;
            }
            // A map whose header line is damaged still starts at its first BIOS-e820 line.
            if !in_map && !map_done && t.starts_with("BIOS-e820:") {
                in_map = true;
            }
            if in_map {
                let who = t.split(':').next().unwrap_or("");
                if matches!(who, "BIOS-e820" | "BIOS-e801" | "BIOS-88" | "Xen") {
                    match parse_e820_line(t) {
                        Ok(e) => inp.e820.push(mk(cl, e)),
                        // One damaged line: say which and why, and read on.
                        Err(e) => inp.unreadable.push(mk(
                            cl,
                            format!("firmware map line not read ({e}): {}", t.trim()),
                        )),
                    }
                    continue;
                }
                in_map = false;
                map_done = !inp.e820.is_empty();
            }
            if let Some((a, b, kind)) = parse_e820_op(t) {
                if is_kernel_fixup(a, b, &kind) {
                    seen_fixups = true;
                    continue;
                }
                let setup_data = !seen_fixups
                    && lastpfn_count == 0
                    && matches!(
                        kind,
                        E820OpKind::Update {
                            old: E820Type::Ram,
                            new: E820Type::ReservedKern
                        }
                    );
                if setup_data {
                    inp.setup_data.push(mk(cl, (a, b - a)));
                    continue;
                }
                let stage = if !seen_fixups && lastpfn_count == 0 {
                    E820OpStage::BeforeTrimBios
                } else if (seen_fixups && lastpfn_after_fixups <= 1)
                    || (!seen_fixups && lastpfn_count <= 1)
                {
                    E820OpStage::AfterMaxPfn
                } else {
                    E820OpStage::Late
                };
                inp.e820_ops.push(mk(
                    cl,
                    E820LogOp {
                        start: a,
                        end: b,
                        kind,
                        stage,
                        line: cl.line,
                    },
                ));
                continue;
            }
            if let Some(i) = t.find("last_pfn = ") {
                lastpfn_count += 1;
                if seen_fixups {
                    lastpfn_after_fixups += 1;
                }
                if let Some(j) = t[i..].find("max_arch_pfn = ") {
                    max_arch_pfn = hex_num(&t[i + j + "max_arch_pfn = ".len()..]);
                }
                continue;
            }
            if let Some(r) = t.strip_prefix("RAMDISK: ") {
                if let Some((a, b, _)) = mem_range(r) {
                    inp.ramdisk.get_or_insert(mk(cl, (a, b - a)));
                } else if let Some((a, b)) = r.split_once(" - ") {
                    if let (Some(a), Some(b)) = (hex_num(a), hex_num(b)) {
                        inp.ramdisk.get_or_insert(mk(cl, (a, b.saturating_sub(a))));
                    }
                }
                continue;
            }
            if let Some(r) = t
                .strip_prefix("percpu: Embedded ")
                .or_else(|| t.strip_prefix("PERCPU: Embedded "))
            {
                let num = |key: &str| {
                    let i = r.find(key)?;
                    let d: String = r[i + key.len()..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    d.parse::<u64>().ok()
                };
                if let (Some(st), Some(rs)) = (num(" s"), num(" r")) {
                    inp.percpu_sizes.get_or_insert(mk(cl, (st, rs)));
                }
                continue;
            }
            if let Some(r) = t.strip_prefix("fixmap  : ") {
                // "fixmap  : 0x%08lx - 0x%08lx   (%4ld kB)": FIXADDR_START to FIXADDR_TOP.
                let mut w = r.split(" - ");
                let hex = |x: Option<&str>| {
                    let x = x?.trim().get(..10)?.strip_prefix("0x")?;
                    u64::from_str_radix(x, 16).ok()
                };
                if let (Some(a), Some(b)) = (hex(w.next()), hex(w.next())) {
                    if a < b && b <= 0xffff_ffff && (b - a) % 4096 == 0 {
                        inp.fixmap_slots.get_or_insert(mk(cl, (b - a) / 4096));
                    }
                }
                continue;
            }
            // "setup_percpu: NR_CPUS:…" (2.6.32 printed it without the prefix).
            if let Some(r) = t
                .strip_prefix("setup_percpu: ")
                .or_else(|| t.starts_with("NR_CPUS:").then_some(t))
            {
                if let Some((n, _)) = num_after(r, "NR_CPUS:") {
                    inp.nr_cpus.get_or_insert(mk(cl, n));
                }
                if let Some((n, _)) = num_after(r, "nr_cpu_ids:") {
                    if cpus_rank < 3 {
                        inp.cpus = Some(mk(cl, n));
                        cpus_rank = 3;
                    }
                }
                continue;
            }
            if t.starts_with("smpboot: Allowing ") || t.starts_with("SMP: Allowing ") {
                if let Some((n, _)) = num_after(t, "Allowing ") {
                    if cpus_rank < 2 {
                        inp.cpus = Some(mk(cl, n));
                        cpus_rank = 2;
                    }
                }
                continue;
            }
            if let Some(r) = t.strip_prefix("CPU topo: Allowing ") {
                if let (Some((n, rest)), true) = (num_after(r, ""), r.contains("hotplug")) {
                    let m = num_after(rest, "plus ").map(|x| x.0).unwrap_or(0);
                    if cpus_rank < 2 {
                        inp.cpus = Some(mk(cl, n + m));
                        cpus_rank = 2;
                    }
                }
                continue;
            }
            if t.starts_with("SLUB: ") {
                if let Some((n, _)) = num_after(t, "CPUs=") {
                    if cpus_rank < 1 {
                        inp.cpus = Some(mk(cl, n));
                        cpus_rank = 1;
                    }
                }
                continue;
            }
            if t.starts_with("Memory: ") && t.contains("kernel code") && inp.image.is_none() {
                // Before 3.11 "data" is _edata - _etext: rodata and rwdata together.
                // (mem_init's own line, lower-case k, on x86_64 and i386 alike).
                let old_form = t.contains("k kernel code");
                let sz = ImageSizes {
                    code_k: k_before(t, "kernel code"),
                    rwdata_k: k_before(t, "rwdata").or_else(|| k_before(t, "data")),
                    rodata_k: k_before(t, "rodata").or(old_form.then_some(0)),
                    init_k: k_before(t, "init"),
                    bss_k: k_before(t, "bss"),
                };
                inp.image = Some(mk(cl, sz));
                continue;
            }
            if let Some((a, b, name)) = parse_early_res(t) {
                // 2.6's "(N early reservations) ==> bootmem" list: the image's extent and
                // the brk bytes are inputs (the linker's and DMI's), the rest predictions.
                match name {
                    "TEXT DATA BSS" if inp.image_extent.is_none() => {
                        inp.image_extent = Some(mk(cl, (a, b)));
                    }
                    "BRK" if inp.early_brk.is_none() => inp.early_brk = Some(mk(cl, b - a)),
                    _ => {}
                }
                continue;
            }
            if let Some(r) = t.strip_prefix("memblock_reserve: ") {
                if inp.image_extent.is_none() {
                    if let Some(inner) = r.strip_prefix('[').and_then(|x| x.split_once(']')) {
                        if let Some((a, b)) = inner.0.split_once('-') {
                            if let (Some(a), Some(b)) = (hex_num(a), hex_num(b)) {
                                inp.image_extent = Some(mk(cl, (a, b + 1)));
                            }
                        }
                    }
                }
                continue;
            }
            if let Some(c) = parse_srat_cpu(t) {
                inp.srat_cpus.push(mk(cl, c));
                continue;
            }
            if let Some(m) = parse_srat_memory(t) {
                inp.srat_memory.push(mk(cl, m));
                continue;
            }
            if let Some(r) = t.strip_prefix("mapped APIC to ") {
                let va = r
                    .split_whitespace()
                    .next()
                    .and_then(|a| u64::from_str_radix(a, 16).ok());
                if let (None, Some(va)) = (&inp.apic_fixmap, va) {
                    inp.apic_fixmap = Some(mk(cl, va));
                }
                continue;
            }
            if t == "Using GB pages for direct mapping" {
                if inp.gbpages_line.is_none() {
                    inp.gbpages_line = Some(mk(cl, ()));
                }
                continue;
            }
            if let Some(r) = t
                .strip_prefix("BRK [")
                .and_then(|r| r.strip_suffix("] PGTABLE"))
            {
                if let Some(a) = r.split(',').next().and_then(|a| hex_num(a.trim())) {
                    match &mut inp.brk_pgtable {
                        Some(b) => b.value.1 += 1,
                        None => inp.brk_pgtable = Some(mk(cl, (a, 1))),
                    }
                }
                continue;
            }
            if let Some(r) = t.strip_prefix("Faking node ") {
                if let Some(nid) = r
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<i32>().ok())
                {
                    inp.fake_nodes.push(mk(cl, nid));
                }
                continue;
            }
            if t.starts_with("ACPI: SLIT ") && inp.slit.is_none() {
                inp.slit = Some(mk(cl, ()));
                continue;
            }
            if is_numa_preamble(t) {
                if inp.numa_kernel.is_none() {
                    inp.numa_kernel = Some(mk(cl, true));
                }
                if inp.node_data_size.is_none() {
                    if let Some(sz) = node_data_line_size(t) {
                        inp.node_data_size = Some(mk(cl, sz));
                    }
                }
                continue;
            }
            if inp.numa_kernel.is_none()
                && (t == "Zone ranges:" || t.starts_with("Initmem setup node "))
            {
                // The zone lines come after the NUMA preamble: none was printed.
                inp.numa_kernel = Some(mk(cl, false));
                continue;
            }
            if let Some(r) = t.strip_prefix("Hypervisor detected: ") {
                let h = match r.trim() {
                    "KVM" => Hypervisor::Kvm,
                    x if x.starts_with("Xen") => Hypervisor::Xen,
                    "VMware" => Hypervisor::VMware,
                    x if x.contains("Hyper-V") => Hypervisor::HyperV,
                    _ => Hypervisor::Other,
                };
                inp.hypervisor.get_or_insert(mk(cl, h));
            }
        }
        // Drop the second of each identical pair of setup_data updates in eras that also
        // update e820_table_kexec (the second line is the kexec table's).
        if let Some(v) = &inp.version {
            let era = Era::new(v.value.0, v.value.2);
            if setup_data_updates_kexec_table(&era) {
                let mut kept: Vec<Sourced<(u64, u64)>> = Vec::new();
                let mut skip_next = false;
                for (i, s) in inp.setup_data.iter().enumerate() {
                    if skip_next {
                        skip_next = false;
                        continue;
                    }
                    if inp
                        .setup_data
                        .get(i + 1)
                        .is_some_and(|n| n.value == s.value)
                    {
                        skip_next = true;
                    }
                    kept.push(s.clone());
                }
                inp.setup_data = kept;
            }
        }
        if let Some(v) = &mut inp.version {
            // 5-level paging shows only in max_arch_pfn (1 << 40 instead of 1 << 34).
            inp.la57 = v.value.2 == Arch::X86_64 && max_arch_pfn == Some(1 << 40);
            if inp.arch_inference.is_some() {
                let (arch, why) = match max_arch_pfn {
                    Some(0x100_0000) => (
                        Arch::I386 { pae: true },
                        "max_arch_pfn = 0x1000000 (i386 PAE)",
                    ),
                    Some(0x10_0000) => {
                        (Arch::I386 { pae: false }, "max_arch_pfn = 0x100000 (i386)")
                    }
                    Some(_) => (Arch::X86_64, "max_arch_pfn (x86_64)"),
                    None => (Arch::X86_64, "nothing; x86_64 assumed"),
                };
                v.value.2 = arch;
                inp.arch_inference = Some(format!("architecture from {why}"));
            }
        }
        inp
    }

    /// Names of the inputs this log lacks.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.version.is_none() {
            m.push("Linux version");
        }
        if self.command_line.is_none() && self.kernel_command_line.is_none() {
            m.push("command line");
        }
        if self.e820.is_empty() {
            m.push("BIOS-e820 map");
        }
        if self.cpus.is_none() {
            m.push("CPU count");
        }
        if self.nr_cpus.is_none() {
            m.push("NR_CPUS");
        }
        if self.image.is_none() {
            m.push("kernel image sizes (Memory: line)");
        }
        m
    }

    /// The machine these inputs describe, and a note for every default used.
    pub fn to_machine_with_report(&self) -> Result<(Machine, Vec<String>), String> {
        let mut notes = Vec::new();
        if self.e820.is_empty() {
            return Err(if self.unreadable.is_empty() {
                String::from("the log has no BIOS-e820 map; cannot build the machine")
            } else {
                format!(
                    "none of the log's {} BIOS-e820 lines could be read; cannot build the machine",
                    self.unreadable.len()
                )
            });
        }
        if !self.e820.iter().any(|e| e.value.typ == E820Type::Ram) {
            return Err(String::from(
                "the log's BIOS-e820 map has no usable RAM; cannot build the machine",
            ));
        }

        let mut m = Machine::qemu_4g();
        m.name = String::from("dmesg");
        m.e820 = self.e820.iter().map(|s| s.value).collect();
        match &self.version {
            Some(v) => {
                let (ver, rel, arch) = &v.value;
                match ver.check_release() {
                    Err(e) => return Err(format!("line {}: {e}", v.line)),
                    Ok(Some(note)) => notes.push(note),
                    Ok(None) => {}
                }
                m.era = Era::new(*ver, *arch);
                m.era.release = rel.clone();
                if self.la57 {
                    m.era.la57 = true;
                    notes.push(String::from(
                        "5-level paging (max_arch_pfn = 0x10000000000): a CPU with LA57 and CONFIG_X86_5LEVEL",
                    ));
                }
                if let Some(why) = &self.arch_inference {
                    notes.push(why.clone());
                }
            }
            None => {
                m.era = Era::default();
                notes.push(format!(
                    "no 'Linux version' line: kernel {} assumed",
                    bootmm::era::DEFAULT_VERSION
                ));
            }
        }
        match (&self.command_line, &self.kernel_command_line) {
            (Some(c), _) | (None, Some(c)) => m.cmdline = c.value.clone(),
            (None, None) => {
                m.cmdline = String::new();
                notes.push(String::from(
                    "no command line in the log: empty command line assumed",
                ));
            }
        }
        self.fake_numa_input(&mut m, &mut notes);
        match &self.cpus {
            Some(c) => m.cpus = c.value,
            None => {
                m.cpus = 1;
                notes.push(String::from("no CPU count in the log: 1 CPU assumed"));
            }
        }
        let limit = bootmm::machine::nr_cpus_limit(&m.era);
        for c in [&self.cpus, &self.nr_cpus].into_iter().flatten() {
            if c.value > limit {
                return Err(format!(
                    "line {}: {} CPUs: an {} kernel is built for at most {limit} (CONFIG_NR_CPUS)",
                    c.line,
                    c.value,
                    if m.era.is_64bit() { "x86_64" } else { "i386" }
                ));
            }
            if c.value == 0 {
                return Err(format!("line {}: a machine has at least one CPU", c.line));
            }
        }
        match &self.nr_cpus {
            Some(n) => m.nr_cpus = n.value,
            None => {
                m.nr_cpus = DEFAULT_NR_CPUS.max(m.cpus);
                notes.push(format!("no NR_CPUS in the log: {} assumed", m.nr_cpus));
            }
        }
        let [dc, dr, dro, di, db] = bootmm::machine::default_image_k(&m.era);
        let sizes = self
            .image
            .as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_default();
        let mut pick = |v: Option<u64>, d: u64, what: &str| {
            v.unwrap_or_else(|| {
                notes.push(format!("no kernel {what} size in the log: {d}K assumed"));
                d
            }) << 10
        };
        m.image = KernelImage {
            phys_start: bootmm::machine::default_physical_start(&m.era),
            text: pick(sizes.code_k, dc, "code"),
            rwdata: pick(sizes.rwdata_k, dr, "rwdata"),
            rodata: pick(sizes.rodata_k, dro, "rodata"),
            init: pick(sizes.init_k, di, "init"),
            bss: pick(sizes.bss_k, db, "bss"),
            reserve_end: None,
            realmode_size: bootmm::machine::default_realmode_size(&m.era),
        };
        if let Some(x) = &self.image_extent {
            m.image.phys_start = x.value.0;
            m.image.reserve_end = Some(x.value.1);
        } else {
            notes.push(format!(
                "no memblock=debug kernel reservation: image placed at {} MiB (CONFIG_PHYSICAL_START's default), extent estimated from section sizes",
                m.image.phys_start >> 20
            ));
        }
        m.config = crate::logconfig::infer(&m.era, &self.lines, &mut notes);
        m.config.fixmap_slots = self.fixmap_slots.as_ref().map(|f| f.value);
        match &self.percpu_sizes {
            Some(p) => {
                let (st, rs) = p.value;
                // Bounded as the kernel's image bounds them: the static part lies inside
                // the kernel image, the reserve is a small constant.
                if st > 1 << 30 || rs > 1 << 30 {
                    return Err(format!(
                        "line {}: a per-CPU area of s{st} r{rs} bytes: no kernel image holds that",
                        p.line
                    ));
                }
                m.config.percpu_sizes = Some((st, rs));
            }
            None => {
                let c = m.kernel_config();
                notes.push(format!(
                    "no 'percpu: Embedded' line: static per-CPU size {} and reserve {} assumed",
                    c.percpu_static_size, c.percpu_reserved_size
                ));
            }
        }
        crate::logconfig::infer_log_buf(&mut m.config, &self.lines, m.cpus, &m.cmdline, &mut notes);
        m.initrd = self.ramdisk.as_ref().map(|r| r.value);
        if let Some(b) = self.early_brk.as_ref().filter(|b| b.value > 16 << 20) {
            // extend_brk hands out at most the image's brk area (64 KiB and a page-table
            // reserve in 2.6): a larger entry is no kernel's.
            return Err(format!(
                "line {}: a BRK early reservation of {} bytes: no kernel's brk area is that large",
                b.line, b.value
            ));
        }
        m.brk_used = self.early_brk.as_ref().map(|b| b.value);
        m.late_frees = late_frees(&self.lines);
        m.hypervisor = self.hypervisor.as_ref().map(|h| h.value);
        m.cpu_nodes = self.cpu_nodes.iter().map(|c| c.value).collect();
        if m.hypervisor.is_none() {
            notes.push(String::from(
                "no 'Hypervisor detected' line: bare metal assumed",
            ));
        }
        // The BIOS data area is never printed: take base memory as the end of the highest
        // RAM range below 640 KiB (where BIOSes put the EBDA), with the EBDA right above it.
        let base = m
            .e820
            .iter()
            .filter(|e| e.typ == E820Type::Ram && e.addr < 0xa0000)
            .map(|e| (e.addr + e.size).min(0xa0000))
            .max();
        if let Some(b) = base {
            m.bda = Some(BiosDataArea {
                base_mem_kb: (b >> 10) as u16,
                ebda_segment: (b >> 4) as u16,
            });
            notes.push(format!(
                "BIOS data area not in the log: base memory {}K, EBDA at {:#x} assumed from the e820 map",
                b >> 10,
                b
            ));
        } else {
            m.bda = None;
        }
        m.setup_data = self.setup_data.iter().map(|s| s.value).collect();
        m.e820_ops = self.e820_ops.iter().map(|s| s.value.clone()).collect();
        self.numa_to_machine(&mut m, &mut notes)?;
        Ok((m, notes))
    }

    /// The NUMA part of the machine: the SRAT lines, the SLIT's presence, CONFIG_NUMA and
    /// `sizeof(pg_data_t)`.
    fn numa_to_machine(&self, m: &mut Machine, notes: &mut Vec<String>) -> Result<(), String> {
        if let Some(n) = &self.numa_kernel {
            m.config.numa = Some(n.value);
            if !n.value {
                notes.push(String::from(
                    "no NUMA preamble before the zone lines: kernel built without CONFIG_NUMA",
                ));
            }
        }
        self.direct_map_inputs(m, notes);
        if let Some(sz) = &self.node_data_size {
            m.config.pglist_data_size = Some(sz.value);
            notes.push(format!(
                "sizeof(pg_data_t) taken from the log's first NODE_DATA line ({:#x} bytes, as rounded by that kernel): only the placement of NODE_DATA is checked",
                sz.value
            ));
        } else if m.config.numa != Some(false) {
            notes.push(format!(
                "no NODE_DATA line: sizeof(pg_data_t) = {:#x} assumed",
                m.kernel_config().pglist_data_size
            ));
        }
        if self.srat_memory.is_empty() {
            if !self.srat_cpus.is_empty() {
                notes.push(String::from(
                    "SRAT CPU lines but no SRAT memory lines: the kernel falls back to one node",
                ));
            }
            return Ok(());
        }
        let mut fw = FirmwareNuma {
            cpus: self.srat_cpus.iter().map(|c| c.value.clone()).collect(),
            memory: self.srat_memory.iter().map(|c| c.value.clone()).collect(),
            slit: None,
        };
        // The domains first: the SLIT assumed below is as large as they make it.
        fw.validate()?;
        if self.slit.is_some() {
            let localities = fw
                .memory
                .iter()
                .map(|x| x.pxm)
                .chain(fw.cpus.iter().map(|x| x.pxm))
                .max()
                .map_or(1, |p| p + 1);
            fw.slit = Some(Slit::uniform(localities));
            notes.push(format!(
                "SLIT present but its distances are not printed: 10 local / 20 remote assumed over {localities} localities (only the distance table's size and placement matter to these lines)"
            ));
        }
        fw.validate()?;
        m.srat = Some(fw);
        Ok(())
    }

    /// NUMA emulation the log shows only through its `Faking node N at` lines (a built-in
    /// command line, or a log without one): `numa=fake=N` with N the emulated nodes, the
    /// form that splits RAM evenly (the size and `U` forms give other addresses, which the
    /// comparison then shows).
    fn fake_numa_input(&self, m: &mut Machine, notes: &mut Vec<String>) {
        let given = bootmm::klib::cmdline::split_args(&m.cmdline)
            .iter()
            .any(|a| a.param == "numa" && a.val.is_some_and(|v| v.starts_with("fake=")));
        let Some(first) = self.fake_nodes.first() else {
            return;
        };
        if given {
            return;
        }
        let mut nids: Vec<i32> = self.fake_nodes.iter().map(|f| f.value).collect();
        nids.sort_unstable();
        nids.dedup();
        if nids.first().is_some_and(|&n| n < 0) {
            notes.push(format!(
                "NUMA emulation from node -1 (line {}): the size form of numa=fake= (4.19-5.8), not modelled from the lines alone",
                first.line
            ));
            return;
        }
        let n = nids.len();
        if !m.cmdline.is_empty() {
            m.cmdline.push(' ');
        }
        m.cmdline.push_str(&format!("numa=fake={n}"));
        notes.push(format!(
            "NUMA emulation shown by {n} 'Faking node' lines (first at line {}) with no numa=fake= on the command line: numa=fake={n} assumed",
            first.line
        ));
    }

    /// [`LogInputs::to_machine_with_report`] without the notes.
    #[allow(dead_code)] // the checker's entry point
    pub fn to_machine(&self) -> Result<Machine, String> {
        self.to_machine_with_report().map(|(m, _)| m)
    }

    /// What the log tells about the direct map's page tables: whether 1 GiB pages were used
    /// (the kernel prints a line when they are, so a log that covers init_mem_mapping and
    /// lacks it says they were not) and, before 5.7, the brk buffer's place and use.
    fn direct_map_inputs(&self, m: &mut Machine, notes: &mut Vec<String>) {
        let covers = |p: &dyn Fn(&str) -> bool| self.lines.iter().any(|l| p(&l.text));
        let before =
            covers(&|t| t.starts_with("last_pfn = ") || t.starts_with("e820: last_pfn = "));
        let after = covers(&|t| t == "Zone ranges:");
        m.apic_fixmap = self.apic_fixmap.as_ref().map(|a| a.value);
        if self.gbpages_line.is_some() {
            m.cpu_gbpages = Some(true);
        } else if before && after {
            m.cpu_gbpages = Some(false);
            notes.push(String::from(
                "no 'Using GB pages for direct mapping' line: the direct map used no 1 GiB pages",
            ));
        } else {
            notes.push(String::from(
                "the log does not cover init_mem_mapping: 1 GiB pages assumed for the direct map",
            ));
        }
        if let Some(b) = &self.brk_pgtable {
            m.pgt_buf_at = Some(b.value.0);
            m.pgt_buf_used = Some(b.value.1);
        }
    }

    /// A listing of every input with its source line, for reports.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let mut one = |what: &str, line: usize, text: &str| {
            let _ = writeln!(s, "{what:<14} line {line:>5}: {text}");
        };
        if let Some(v) = &self.version {
            one("version", v.line, &v.text);
        }
        if let Some(c) = &self.command_line {
            one("command line", c.line, &c.text);
        }
        for e in &self.e820 {
            one("e820", e.line, &e.text);
        }
        for e in &self.setup_data {
            one("setup_data", e.line, &e.text);
        }
        for e in &self.e820_ops {
            one("e820 op", e.line, &e.text);
        }
        for (what, x) in [("ramdisk", &self.ramdisk)] {
            if let Some(x) = x {
                one(what, x.line, &x.text);
            }
        }
        for (what, x) in [("cpus", &self.cpus), ("NR_CPUS", &self.nr_cpus)] {
            if let Some(x) = x {
                one(what, x.line, &x.text);
            }
        }
        if let Some(x) = &self.image {
            one("image sizes", x.line, &x.text);
        }
        if let Some(x) = &self.image_extent {
            one("image extent", x.line, &x.text);
        }
        if let Some(x) = &self.percpu_sizes {
            one("percpu sizes", x.line, &x.text);
        }
        if let Some(x) = &self.early_brk {
            one("brk bytes", x.line, &x.text);
        }
        if let Some(x) = &self.fixmap_slots {
            one("fixmap size", x.line, &x.text);
        }
        let mut last = 0;
        for x in &self.cpu_nodes {
            if x.line != last {
                one("CPU nodes", x.line, &x.text);
                last = x.line;
            }
        }
        if let Some(x) = &self.hypervisor {
            one("hypervisor", x.line, &x.text);
        }
        for x in &self.srat_cpus {
            one("SRAT cpu", x.line, &x.text);
        }
        for x in &self.srat_memory {
            one("SRAT memory", x.line, &x.text);
        }
        if let Some(x) = &self.slit {
            one("SLIT", x.line, &x.text);
        }
        if let Some(x) = &self.numa_kernel {
            one(
                "CONFIG_NUMA",
                x.line,
                &format!("{} (inferred from: {})", x.value, x.text),
            );
        }
        if let Some(x) = &self.gbpages_line {
            one("GB pages", x.line, &x.text);
        }
        if let Some(x) = &self.apic_fixmap {
            one("APIC fixmap", x.line, &x.text);
        }
        if let Some(x) = &self.brk_pgtable {
            one(
                "brk pgtables",
                x.line,
                &format!(
                    "{} pages from {:#x} (first: {})",
                    x.value.1, x.value.0, x.text
                ),
            );
        }
        if let Some(x) = &self.node_data_size {
            one(
                "pg_data_t",
                x.line,
                &format!("{:#x} bytes (inferred from: {})", x.value, x.text),
            );
        }
        s
    }
}

/// The "Freeing %s memory: %ldK" lines after the "Memory:" line: what `kernel_init` freed
/// after the initcalls (the initrd, the init sections, the image's gaps), in log order.
/// Those before "Memory:" are already in its figure.
fn late_frees(lines: &[CleanLine]) -> Vec<bootmm::machine::LateFree> {
    let Some(mem) = lines
        .iter()
        .position(|l| l.text.starts_with("Memory: ") && l.text.contains("available"))
    else {
        return Vec::new();
    };
    lines[mem + 1..]
        .iter()
        .filter_map(|l| {
            let r = l.text.strip_prefix("Freeing ")?;
            let (what, k) = r.rsplit_once(" memory: ")?;
            let kbytes = k.strip_suffix('K')?.trim().parse().ok()?;
            Some(bootmm::machine::LateFree {
                what: what.to_string(),
                kbytes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A corpus file; a missing corpus fails the test (it must never pass on nothing).
    fn corpus(rel: &str) -> Option<String> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus")
            .join(rel);
        match std::fs::read_to_string(&p) {
            Ok(s) => Some(s),
            Err(e) => panic!("corpus file {} not readable ({e})", p.display()),
        }
    }

    #[test]
    fn cleans_console_prefixes() {
        assert_eq!(clean_line("[    0.000000] BIOS-e820: x\r"), "BIOS-e820: x");
        assert_eq!(
            clean_line("[    0.000000]  BIOS-e820: old"),
            " BIOS-e820: old"
        );
        assert_eq!(
            clean_line("Jul 28 23:49:12 debian kernel: [    0.000000] Linux version 3.2.0"),
            "Linux version 3.2.0"
        );
        assert_eq!(clean_line("<6>[    1.5] hello"), "hello");
        assert_eq!(
            clean_line("[Sat Oct 16 18:15:28 2021] BIOS-provided physical RAM map:"),
            "BIOS-provided physical RAM map:"
        );
        assert_eq!(clean_line("<4>plain"), "plain");
        assert_eq!(
            clean_line("[    0.000000] lit.home.arpa kernel:   Intel GenuineIntel"),
            "  Intel GenuineIntel"
        );
        assert_eq!(clean_line("[mem 0x0] not a stamp"), "[mem 0x0] not a stamp");
    }

    #[test]
    fn old_2_6_32_log() {
        let Some(t) = corpus("dmesg/026-qemu-512m-2.6.32-debian.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        let v = i.version.as_ref().unwrap();
        assert_eq!(v.value.0, KernelVersion::new(2, 6, 32));
        assert_eq!(v.value.2, Arch::X86_64);
        assert_eq!(
            i.command_line.as_ref().unwrap().value,
            "root=/dev/vda console=ttyS0"
        );
        assert_eq!(i.e820.len(), 6);
        assert_eq!(i.e820[0].value, E820Entry::new(0, 0x9dc00, E820Type::Ram));
        assert_eq!(
            i.e820[5].value,
            E820Entry::new(0xfffbc000, 0x44000, E820Type::Reserved)
        );
        assert_eq!(
            i.ramdisk.as_ref().unwrap().value,
            (0x1f631000, 0x1ffef6ab - 0x1f631000)
        );
        let m = i.to_machine().unwrap();
        assert_eq!(m.e820.len(), 6);
    }

    #[test]
    fn el6_fixups_and_mtrr_trim() {
        let Some(t) = corpus("dmesg/034-nec-express5800-16g-2.6.32-el6.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        assert_eq!(i.e820.len(), 14);
        assert_eq!(i.e820_ops.len(), 1, "{:?}", i.e820_ops);
        let op = &i.e820_ops[0].value;
        assert_eq!((op.start, op.end), (0xbf800000, 0x1_0000_0000));
        assert_eq!(op.stage, E820OpStage::AfterMaxPfn);
        assert_eq!(i.cpus.as_ref().unwrap().value, 8);
    }

    #[test]
    fn syslog_i386_logs() {
        let Some(t) = corpus("dmesg/039-qemu-i386-pae-128m-3.2-debian.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        let v = &i.version.as_ref().unwrap().value;
        // "3.2.0-4-686-pae ... Debian 3.2.68-1+deb7u2": the upstream sublevel is read.
        assert_eq!(
            (v.0, v.2),
            (KernelVersion::new(3, 2, 68), Arch::I386 { pae: true })
        );
        assert_eq!(i.e820.len(), 6);
        assert!(i.e820_ops.is_empty());
        assert_eq!(i.nr_cpus.as_ref().unwrap().value, 32);
        assert_eq!(i.cpus.as_ref().unwrap().value, 1);
        assert_eq!(i.image.as_ref().unwrap().value.code_k, Some(2860));
        let Some(t) = corpus("dmesg/047-dell-xps-l501x-i386-highmem-3.8g-3.8.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        assert_eq!(
            i.version.as_ref().unwrap().value.2,
            Arch::I386 { pae: true }
        );
        assert!(i.arch_inference.as_ref().unwrap().contains("max_arch_pfn"));
        assert_eq!(i.e820.len(), 28);
        assert_eq!(
            i.ramdisk.as_ref().unwrap().value,
            (0x36130000, 0x3708ffff + 1 - 0x36130000)
        );
        assert_eq!(i.cpus.as_ref().unwrap().value, 4);
    }

    #[test]
    fn three_x_log_with_mtrr_update() {
        let Some(t) = corpus("dmesg/043-dell-optiplex-7010-8g-3.11.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        assert_eq!(i.e820.len(), 23);
        assert_eq!(i.e820_ops.len(), 1);
        assert_eq!(i.e820_ops[0].value.start, 0xdb800000);
        assert_eq!(i.e820_ops[0].value.stage, E820OpStage::AfterMaxPfn);
        let img = &i.image.as_ref().unwrap().value;
        assert_eq!(
            (
                img.code_k,
                img.rwdata_k,
                img.rodata_k,
                img.init_k,
                img.bss_k
            ),
            (Some(7150), Some(1083), Some(3312), Some(1364), Some(1420))
        );
    }

    #[test]
    fn host_6_18_log() {
        let Some(t) = corpus("host/dmesg-6.18-host.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        let v = &i.version.as_ref().unwrap().value;
        assert_eq!(v.0, KernelVersion::new(6, 18, 44));
        assert_eq!(v.1, "6.18.44-fc-v657");
        assert!(i
            .command_line
            .as_ref()
            .unwrap()
            .value
            .starts_with("console=ttyS0 quiet"));
        assert_eq!(i.e820.len(), 5);
        assert!(i.e820_ops.is_empty());
        assert_eq!(
            i.ramdisk.as_ref().unwrap().value,
            (0xbf8d0000, 0xc0000000 - 0xbf8d0000)
        );
        assert_eq!(i.cpus.as_ref().unwrap().value, 2);
        assert_eq!(i.nr_cpus.as_ref().unwrap().value, 256);
        assert_eq!(i.hypervisor.as_ref().unwrap().value, Hypervisor::Kvm);
        let img = &i.image.as_ref().unwrap().value;
        assert_eq!(img.code_k, Some(18470));
        assert_eq!(img.bss_k, Some(1168));
        let (m, notes) = i.to_machine_with_report().unwrap();
        assert_eq!(m.era.version, KernelVersion::new(6, 18, 44));
        assert_eq!(m.cpus, 2);
        assert!(notes.iter().any(|n| n.contains("memblock=debug")));
    }

    #[test]
    fn memblock_debug_and_setup_data() {
        let Some(t) = corpus("memblock-debug/003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        assert_eq!(
            i.image_extent.as_ref().unwrap().value,
            (0x1000000, 0x3600000)
        );
        assert_eq!(i.e820.len(), 8);
        assert_eq!(
            i.e820.iter().map(|e| e.value).collect::<Vec<_>>(),
            Machine::qemu_4g().e820
        );
        let Some(t) = corpus("dmesg/050-huananzhi-x99-20cpu-32g-6.4-cachyos.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        assert_eq!(i.setup_data.len(), 2, "{:?}", i.setup_data);
        assert_eq!(i.setup_data[0].value, (0x6fcb8018, 0x6fcd6458 - 0x6fcb8018));
    }

    #[test]
    fn srat_slit_and_node_data_inputs() {
        assert_eq!(
            parse_srat_memory("ACPI: SRAT: Node 0 PXM 0 [mem 0x100000000-0x207ffffff] hotplug"),
            Some(SratMemory {
                pxm: 0,
                nid: 0,
                start: 0x1_0000_0000,
                end: 0x2_0800_0000,
                hotplug: true,
                nonvolatile: false
            })
        );
        assert_eq!(
            parse_srat_memory("SRAT: Node 2 PXM 8 [mem 0xc80000000-0x127fffffff]")
                .map(|m| (m.nid, m.pxm)),
            Some((2, 8))
        );
        assert_eq!(
            parse_srat_cpu("SRAT: PXM 1 -> APIC 0x3b -> Node 1"),
            Some(SratCpu {
                pxm: 1,
                apic: 0x3b,
                nid: 1
            })
        );
        assert_eq!(
            node_data_line_size("NODE_DATA(31) allocated [mem 0xc07fcfcf40-0xc07fcfefff]"),
            Some(0x20c0)
        );
        assert_eq!(
            node_data_line_size("  NODE_DATA [mem 0x15fff7000-0x15fffbfff]"),
            Some(0x5000)
        );
        assert_eq!(
            node_data_line_size("  NODE_DATA [0000000000009000 - 0000000000010fff]"),
            Some(0x8000)
        );
        let Some(t) = corpus("dmesg/048-dell-r7625-epyc-32node-512cpu-768g-6.12-rc2.txt") else {
            return;
        };
        let i = LogInputs::parse(&t);
        assert_eq!(i.srat_memory.len(), 34);
        assert!(i.slit.is_some());
        assert_eq!(i.node_data_size.as_ref().unwrap().value, 0x20c0);
        let (m, notes) = i.to_machine_with_report().unwrap();
        let fw = m.srat.unwrap();
        assert_eq!(fw.slit.unwrap().localities, 32);
        assert_eq!(m.config.pglist_data_size, Some(0x20c0));
        assert!(notes.iter().any(|n| n.contains("SLIT")));
        // A kernel without CONFIG_NUMA prints no preamble before the zone lines.
        let Some(t) = corpus("dmesg/005-chromebook-8g-6.6.txt") else {
            return;
        };
        let (m, _) = LogInputs::parse(&t).to_machine_with_report().unwrap();
        assert_eq!(m.config.numa, Some(false));
    }

    #[test]
    fn whole_corpus_reads() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dmesg");
        let rd = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the shared corpus {} is missing: {e}", dir.display()));
        let mut read = 0;
        for f in rd.flatten() {
            read += 1;
            let t = std::fs::read_to_string(f.path()).unwrap_or_default();
            let i = LogInputs::parse(&t);
            assert!(i.version.is_some(), "{}", f.path().display());
            assert!(
                i.e820.len() >= 2,
                "{}: {} entries",
                f.path().display(),
                i.e820.len()
            );
            assert!(i.to_machine().is_ok());
            assert!(
                i.unreadable.is_empty(),
                "{}: {:?}",
                f.path().display(),
                i.unreadable
            );
        }
        assert!(read >= 38, "only {read} corpus logs read");
    }
}
