//! `bootmm check LOG`: boot the model with the inputs a real log gives, and compare every
//! memory-init line the kernel printed with what the model printed, family by family.
//!
//! Inputs (firmware map, command line, CPU counts, build sizes) are taken from the log and
//! listed, never scored. Each predicted line is `exact`, `differs` (both lines shown) or
//! `not modeled yet`. A family the model prints but the log lacks is not counted: console
//! captures drop KERN_DEBUG lines.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use bootmm::{Era, Level};

use crate::exit;
use crate::logread::LogInputs;

#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// The real boot log (dmesg, console capture or syslog).
    #[arg(required_unless_present_any = ["zoneinfo", "slabinfo"])]
    pub log: Option<PathBuf>,
    /// One JSON object with the inputs, every compared line and the summary.
    #[arg(long)]
    pub json: bool,
    /// Also show the exact lines, not only the differences.
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    pub zoneinfo: crate::check_zoneinfo::ZoneinfoArgs,
    #[command(flatten)]
    pub slabinfo: crate::check_slabinfo::SlabinfoArgs,
}

/// A family of predicted lines: its name and how a line is recognised.
struct Family {
    name: &'static str,
    /// Recognises a line of this family; `block` is the header of the block the line sits in.
    matches: fn(line: &str, block: Option<&str>) -> bool,
}

/// Block headers whose following indented lines belong to them.
const BLOCK_HEADERS: &[&str] = &[
    "Zone ranges:",
    "Movable zone start for each node",
    "Movable zone start PFN for each node",
    "Early memory node ranges",
];

fn is_low_fixup(l: &str) -> bool {
    let l = l.strip_prefix("e820: ").unwrap_or(l);
    l.starts_with("update [mem 0x00000000-0x00000fff] usable ==> reserved")
        || l.starts_with("update [mem 0x00000000-0x0000ffff] usable ==> reserved")
        || l.starts_with("remove [mem 0x000a0000-0x000fffff] usable")
}

const FAMILIES: &[Family] = &[
    Family {
        name: "e820 low-memory fixups",
        matches: |l, _| is_low_fixup(l),
    },
    Family {
        name: "last_pfn",
        matches: |l, _| l.starts_with("last_pfn = ") || l.starts_with("e820: last_pfn = "),
    },
    Family {
        // i386: find_low_pfn_range's split as initmem_init and setup_bootmem_allocator
        // print it.
        name: "lowmem",
        matches: |l, _| {
            l.ends_with("MB HIGHMEM available.")
                || l.ends_with("MB LOWMEM available.")
                || l.starts_with("  mapped low ram: 0 - ")
                || l.starts_with("  low ram: 0 - ")
        },
    },
    Family {
        // i386 mem_init: the kernel's virtual layout. The image's .init/.data/.text lines
        // are not predicted (their exact ends are printed nowhere else).
        name: "virtual kernel memory layout",
        matches: |l, _| {
            let t = l.trim_start();
            l == "virtual kernel memory layout:"
                || [
                    "fixmap  : 0x",
                    "cpu_entry : 0x",
                    "pkmap   : 0x",
                    "vmalloc : 0x",
                    "lowmem  : 0x",
                ]
                .iter()
                .any(|p| t.starts_with(p))
        },
    },
    Family {
        // init_mem_mapping's ranges and page sizes (printed up to 4.2; the BRK lines are
        // inputs, not predictions).
        name: "direct map",
        matches: |l, _| {
            l.starts_with("init_memory_mapping: [mem ")
                || (l.starts_with(" [mem 0x")
                    && (l.ends_with("] page 4k")
                        || l.ends_with("] page 2M")
                        || l.ends_with("] page 1G")))
        },
    },
    Family {
        name: "NUMA",
        matches: |l, _| {
            l == "No NUMA configuration found"
                || l == "NUMA turned off"
                || l.starts_with("Faking a node at ")
                || l.starts_with("Faking node ")
                || (l.starts_with("NUMA: Node ") && l.contains("] + [mem "))
                || l.starts_with("NUMA: Initialized distance table")
                || l.starts_with("Bootmem setup node ")
                || l.starts_with("NODE_DATA(")
                || l.starts_with("  NODE_DATA [")
                || l.starts_with("    NODE_DATA(")
        },
    },
    Family {
        // 2.6: setup_node_bootmem's bitmap and early_res_to_bootmem's list (the image's
        // and the brk's entries are inputs; the rest predictions).
        name: "bootmem",
        matches: |l, _| {
            l.starts_with("  bootmap [")
                || (l.starts_with('(') && l.contains(" early reservations) ==> bootmem ["))
                || (l.starts_with("  #")
                    && l[3..].split_once(' ').is_some_and(|(n, r)| {
                        n.bytes().all(|b| b.is_ascii_digit()) && r.starts_with('[')
                    }))
        },
    },
    Family {
        // 2.6's e820_mark_nosave_regions (later eras print a [mem …] form, not modelled).
        name: "nosave",
        matches: |l, _| l.starts_with("PM: Registered nosave memory: ") && !l.contains("[mem "),
    },
    Family {
        name: "Zone ranges",
        matches: |l, b| l == "Zone ranges:" || (b == Some("Zone ranges:") && l.starts_with("  ")),
    },
    Family {
        name: "Movable zone",
        matches: |l, b| {
            l.starts_with("Movable zone start")
                || (matches!(b, Some(h) if h.starts_with("Movable zone start"))
                    && l.starts_with("  "))
        },
    },
    Family {
        name: "Early memory node ranges",
        matches: |l, b| {
            l == "Early memory node ranges"
                || (b == Some("Early memory node ranges") && l.starts_with("  "))
        },
    },
    Family {
        name: "Initmem setup node",
        matches: |l, _| l.starts_with("Initmem setup node "),
    },
    Family {
        name: "holes",
        matches: |l, _| {
            (l.starts_with("On node ") && l.contains("pages in unavailable ranges"))
                || l.starts_with("Zeroed struct page in unavailable ranges")
                || l.starts_with("Reserved but unavailable")
                || (l.starts_with("  ") && l.ends_with("pages in unavailable ranges"))
        },
    },
    Family {
        name: "totalpages",
        matches: |l, _| l.starts_with("On node ") && l.contains(" totalpages: "),
    },
    Family {
        name: "zone memmap/reserved/LIFO",
        matches: |l, _| {
            l.starts_with("  ")
                && l.contains(" zone: ")
                && (l.ends_with("pages used for memmap")
                    || l.ends_with("pages reserved")
                    || l.contains("pages, LIFO batch:"))
        },
    },
    Family {
        // setup_per_cpu_areas: the counts, the first chunk's layout and its groups.
        name: "percpu",
        matches: |l, _| {
            l.starts_with("setup_percpu: NR_CPUS:")
                || (l.starts_with("NR_CPUS:") && l.contains(" nr_cpu_ids:"))
                || l.starts_with("percpu: Embedded ")
                || l.starts_with("PERCPU: Embedded ")
                || l.starts_with("pcpu-alloc: ")
                || l.contains(" has no node ") && l.ends_with(" or node-local memory")
        },
    },
    Family {
        name: "Memory",
        // "…K/…K available (" from 3.11, "…k/…k available (" before.
        matches: |l, _| {
            l.starts_with("Memory: ")
                && (l.contains("K available (") || l.contains("k available ("))
        },
    },
    Family {
        // kmem_cache_init's summary (with Genslabs= before 3.9).
        name: "SLUB",
        matches: |l, _| l.starts_with("SLUB: HWalign=") || l.starts_with("SLUB: Genslabs="),
    },
    Family {
        name: "zonelists",
        matches: |l, _| {
            l.starts_with("Built ") && l.contains(" zonelists")
                || l.starts_with("Policy zone: ")
                || l.starts_with("Fallback order for Node ")
        },
    },
    Family {
        name: "log buffer",
        matches: |l, _| {
            let l = l.strip_prefix("printk: ").unwrap_or(l);
            l.starts_with("log_buf_len: ")
                || l.starts_with("log_buf_len individual max cpu contribution: ")
                || l.starts_with("log_buf_len total cpu_extra contributions: ")
                || l.starts_with("log_buf_len min size: ")
        },
    },
    Family {
        name: "hash tables",
        matches: |l, _| {
            l.starts_with("Dentry cache hash table entries: ")
                || l.starts_with("Inode-cache hash table entries: ")
                || l.starts_with("Mount-cache hash table entries: ")
                || l.starts_with("Mountpoint-cache hash table entries: ")
                || l.starts_with("PID hash table entries: ")
        },
    },
];

/// The "available" and physpages figures (KiB) of a "Memory:" line (before 3.11 the second
/// is `max_pfn`, holes included, in lower-case k).
pub fn memory_fields(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("Memory: ")?;
    let (avail, rest) = rest.split_once("K/").or_else(|| rest.split_once("k/"))?;
    let (phys, _) = rest
        .split_once("K available")
        .or_else(|| rest.split_once("k available"))?;
    Some((avail.parse().ok()?, phys.parse().ok()?))
}

/// Outcome of one compared line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exact,
    Differs,
    NotModeled,
    /// The line differs, but the kernel's number depends on inputs no log prints (every
    /// memblock reservation below 16 MiB, for dma_reserve before 5.13).
    Unprinted,
    /// Differs, but the model says why its line cannot be exact (an input it lacks).
    Unsure,
    /// A "Memory:" line whose physpages figure is exact; its "available" (and "reserved")
    /// figures depend on every runtime reservation and are reported, not scored.
    PhysExact,
    /// The model's boot stopped before it printed this line: not compared.
    NotReached,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Exact => "exact",
            Status::Differs => "differs",
            Status::NotModeled => "not modeled yet",
            Status::Unprinted => "depends on unprinted reservations",
            Status::Unsure => "unsure",
            Status::PhysExact => "physpages exact",
            Status::NotReached => "not reached (the model stopped)",
        }
    }
}

/// One compared line.
#[derive(Clone, Debug)]
pub struct Compared {
    pub family: &'static str,
    pub status: Status,
    /// Line number in the log and its text (None: the model printed a line the log lacks).
    pub log: Option<(usize, String)>,
    pub model: Option<String>,
    /// For `Unsure`: what the model's number depends on that it does not compute.
    pub why: Option<String>,
    /// For "Memory:" lines: (model − log) / log of the "available" figure.
    pub available_error: Option<f64>,
}

/// Assign each line to a family (or none), tracking block headers.
fn classify<'a, I: IntoIterator<Item = &'a str>>(lines: I) -> Vec<Option<usize>> {
    let mut block: Option<&str> = None;
    let mut out = Vec::new();
    for l in lines {
        if let Some(h) = BLOCK_HEADERS.iter().find(|h| l.starts_with(**h)) {
            block = Some(h);
        } else if !l.starts_with("  ") {
            block = None;
        }
        out.push(FAMILIES.iter().position(|f| (f.matches)(l, block)));
    }
    out
}

/// Lines whose number, in this era, depends on reservations no log prints: the DMA zone's
/// "pages reserved" (dma_reserve) before 5.13, when the whole first megabyte became reserved;
/// and "Reserved but unavailable" (4.15–4.19), which counts memblock reservations outside
/// RAM (firmware tables, EFI regions) that the log does not list.
fn depends_on_unprinted(era: &Era, line: &str) -> bool {
    (!era.at_least(5, 13) && line.starts_with("  ") && line.ends_with(" pages reserved"))
        || line.starts_with("Reserved but unavailable: ")
        // Before 6.11 "Total pages" subtracts dma_reserve, every reservation below 16 MiB.
        || (!era.at_least(6, 11) && line.starts_with("Built ") && line.contains("Total pages:"))
}

/// Compare the log's predicted lines with the model's, family by family, in order. A differing
/// line the model flagged in `caveats` (its text and the reason) is `Unsure`, not a miss.
pub fn compare(
    era: &Era,
    log: &[(usize, String)],
    model: &[(Level, String)],
    caveats: &[(String, String)],
    boot_stopped: bool,
) -> Vec<Compared> {
    // A console capture without KERN_DEBUG lines shows none of the model's debug lines
    // (the e820 fixups, the distance table, the hole counts of some eras): then the
    // model's debug lines are not expected in it either.
    let log_text: std::collections::HashSet<&str> = log.iter().map(|(_, t)| t.trim_end()).collect();
    let debug: Vec<&str> = model
        .iter()
        .filter(|(l, _)| *l == Level::Debug)
        .map(|(_, t)| t.trim_end())
        .collect();
    let no_debug = !debug.is_empty() && !debug.iter().any(|t| log_text.contains(t));
    let model: Vec<(Level, String)> = model
        .iter()
        .filter(|(l, _)| !(no_debug && *l == Level::Debug))
        .cloned()
        .collect();
    let model = &model[..];
    let lc = classify(log.iter().map(|(_, t)| t.as_str()));
    let mc = classify(model.iter().map(|(_, t)| t.as_str()));
    let mut out = Vec::new();
    for (fi, fam) in FAMILIES.iter().enumerate() {
        let real: Vec<&(usize, String)> = log
            .iter()
            .zip(&lc)
            .filter(|(_, c)| **c == Some(fi))
            .map(|(l, _)| l)
            .collect();
        let ours: Vec<&(Level, String)> = model
            .iter()
            .zip(&mc)
            .filter(|(_, c)| **c == Some(fi))
            .map(|(l, _)| l)
            .collect();
        if real.is_empty() {
            continue;
        }
        // A log that ends inside this family (an excerpt) cannot show the model's later lines.
        let log_ends_here = log.last().map(|(n, _)| *n) == real.last().map(|(n, _)| *n);
        let upto = if log_ends_here {
            real.len()
        } else {
            real.len().max(ours.len())
        };
        for i in 0..upto {
            let r = real.get(i).map(|(n, t)| (*n, t.clone()));
            let m = ours.get(i).map(|(_, t)| t.clone());
            let mem = match (&r, &m) {
                (Some((_, a)), Some(b)) => memory_fields(a).zip(memory_fields(b)),
                _ => None,
            };
            let mut status = match (&r, &m) {
                // The model stopped before this line (none of its family, or past its last).
                (Some(_), None) if boot_stopped => Status::NotReached,
                (Some(_), None) if ours.is_empty() => Status::NotModeled,
                // Consoles and dmesg captures often strip trailing spaces (pr_cont("%d ")).
                (Some((_, a)), Some(b)) if a.trim_end() == b.trim_end() => Status::Exact,
                (Some((_, a)), Some(_)) if depends_on_unprinted(era, a) => Status::Unprinted,
                _ if mem.is_some_and(|(l, m)| l.1 == m.1) => Status::PhysExact,
                _ => Status::Differs,
            };
            let why = match (&r, &m) {
                (Some(_), Some(b)) if status == Status::Differs => caveats
                    .iter()
                    .find(|(line, _)| line.trim_end() == b.trim_end())
                    .map(|(_, why)| why.clone()),
                _ => None,
            };
            if why.is_some() {
                status = Status::Unsure;
            }
            let available_error = mem
                .filter(|(l, _)| l.0 > 0)
                .map(|(l, m)| (m.0 as f64 - l.0 as f64) / l.0 as f64);
            out.push(Compared {
                family: fam.name,
                status,
                log: r,
                model: m,
                why,
                available_error,
            });
        }
    }
    out
}

/// One compared line, as reports show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LineReport {
    pub family: &'static str,
    /// "exact", "differs", "not modeled yet", "unsure", "depends on unprinted
    /// reservations", "physpages exact", or "model only" (a line the log lacks).
    pub status: &'static str,
    /// The log's line number.
    pub line: Option<usize>,
    pub log: Option<String>,
    pub model: Option<String>,
    pub why: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_error: Option<f64>,
}

/// The counts of a check.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub exact: usize,
    pub differ: usize,
    pub unsure: usize,
    pub unprinted: usize,
    pub not_modeled: usize,
    /// Lines after the point where the model's boot stopped.
    pub not_reached: usize,
    /// Lines of the log looked at (all statuses).
    pub total: usize,
}

/// What `bootmm check LOG` found: the inputs it read, the defaults it used, and every
/// compared line.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    pub log: String,
    /// Each input with its source line.
    pub inputs: Vec<String>,
    /// Each default used for an input the log lacks.
    pub defaults: Vec<String>,
    pub missing: Vec<&'static str>,
    /// Lines that looked like inputs but could not be read: `(line, why)`.
    pub unreadable: Vec<(usize, String)>,
    /// Why the model's boot stopped, if it did.
    pub boot_error: Option<String>,
    pub lines: Vec<LineReport>,
    pub summary: Summary,
    /// The "available" error of each Memory: line (model - log) / log, not scored.
    #[serde(skip)]
    pub available_errors: Vec<f64>,
}

impl CheckReport {
    /// The summary line of the text report.
    pub fn summary_line(&self) -> String {
        let Summary {
            exact: e,
            differ: d,
            unsure: u,
            unprinted: q,
            not_modeled: n,
            not_reached: r,
            total: t,
        } = self.summary;
        let mut summary = format!("check: {e} exact, {d} differ, {n} not modeled, of {t} lines");
        if r > 0 {
            let _ = write!(summary, " ({r} not reached: the model's boot stopped)");
        }
        if u > 0 || q > 0 {
            let _ = write!(
                summary,
                " ({u} unsure: input not in the log; {q} depend on unprinted reservations)"
            );
        }
        if !self.available_errors.is_empty() {
            let note = self
                .available_errors
                .iter()
                .map(|x| format!("{:+.2}%", x * 100.0))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(summary, "; Memory: available off by {note} (not scored)");
        }
        summary
    }

    /// The text report: inputs, defaults, the lines that are not exact (all with
    /// `verbose`), and the summary.
    pub fn render_text(&self, verbose: bool) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "inputs taken from {}:", self.log);
        for l in &self.inputs {
            let _ = writeln!(o, "  {l}");
        }
        for m in &self.missing {
            let _ = writeln!(o, "  missing: {m}");
        }
        for n in &self.defaults {
            let _ = writeln!(o, "  default: {n}");
        }
        if let Some(e) = &self.boot_error {
            let _ = writeln!(o, "model boot stopped: {e}");
        }
        let mut family = "";
        for c in &self.lines {
            if c.status == Status::Exact.word() && !verbose {
                continue;
            }
            if c.family != family {
                family = c.family;
                let _ = writeln!(o, "[{family}]");
            }
            match (&c.line, &c.log, &c.model) {
                (Some(n), Some(t), Some(m)) if c.status == Status::PhysExact.word() => {
                    let _ = writeln!(
                        o,
                        "  physpages exact, available off by {:+.2}% (not scored)  line {n}:",
                        c.available_error.unwrap_or(0.0) * 100.0
                    );
                    let _ = writeln!(o, "    log:   {t}");
                    let _ = writeln!(o, "    model: {m}");
                }
                (Some(n), Some(t), Some(m))
                    if [Status::Differs, Status::Unsure, Status::Unprinted]
                        .iter()
                        .any(|s| s.word() == c.status) =>
                {
                    let _ = writeln!(o, "  {:<8} line {n}:", c.status);
                    let _ = writeln!(o, "    log:   {t}");
                    let _ = writeln!(o, "    model: {m}");
                    if let Some(why) = &c.why {
                        let _ = writeln!(o, "    why:   {why}");
                    }
                }
                (Some(n), Some(t), _) => {
                    let _ = writeln!(o, "  {:<8} line {n}: {t}", c.status);
                }
                (None, _, Some(m)) => {
                    let _ = writeln!(o, "  differs  (model only): {m}");
                }
                _ => {}
            }
        }
        let _ = writeln!(o, "{}", self.summary_line());
        o
    }

    /// Lines set against a line of the model: exact, differing or unsure ones (not the
    /// lines of families the model does not print yet).
    pub fn compared(&self) -> usize {
        let s = &self.summary;
        s.exact + s.differ + s.unsure + s.unprinted
    }

    /// The exit status: a difference (1), an incomplete boot (3), nothing compared (2),
    /// else 0. See [`crate::exit`].
    pub fn exit_status(&self) -> u8 {
        if self.summary.differ > 0 {
            exit::FAILED
        } else if self.boot_error.is_some() {
            exit::INCOMPLETE
        } else if self.compared() == 0 {
            exit::INPUT
        } else {
            exit::OK
        }
    }
}

/// Check the text of a boot log (named `name` in the report): read its inputs, boot the
/// model with them, and compare every predicted line.
///
/// # Errors
/// The log cannot describe a machine (no usable e820 map, impossible values), or the
/// model could not be set up (simulated RAM, the host-memory budget).
pub fn check_text(text: &str, name: &str) -> Result<CheckReport, String> {
    let inputs = LogInputs::parse(text);
    let unreadable: Vec<(usize, String)> = inputs
        .unreadable
        .iter()
        .map(|w| (w.line, w.value.clone()))
        .collect();
    let (mut machine, notes) = inputs.to_machine_with_report()?;
    // Which lines an unprinted input decides is part of the report.
    machine.explain_inputs = true;
    let (k, boot) = crate::boot::boot(machine)?;
    let model: Vec<(Level, String)> = k
        .printk
        .lines()
        .into_iter()
        .map(|l| (l.level, l.text))
        .collect();
    let log: Vec<(usize, String)> = inputs
        .lines
        .iter()
        .map(|l| (l.line, l.text.clone()))
        .collect();
    let mut caveats = k.numa.caveats.clone();
    if let Some(slit) = &inputs.slit {
        // The node order follows SLIT distances, which a log does not print.
        for (_, l) in model
            .iter()
            .filter(|(_, l)| l.starts_with("Fallback order for Node "))
        {
            caveats.push((
                l.clone(),
                format!(
                    "SLIT distances are not printed (line {}): 10/20 assumed",
                    slit.line
                ),
            ));
        }
    }
    // Physical KASLR (4.8+ with `kaslr`, on by default from 4.12) puts the kernel image at a
    // random address that only memblock=debug prints; NODE_DATA at the top of a node can
    // land below it.
    let args = bootmm::klib::cmdline::split_args(&k.machine.cmdline);
    let has = |w: &str| args.iter().any(|a| a.param == w);
    let random_image = k.era.is_64bit()
        && inputs.image_extent.is_none()
        && !has("nokaslr")
        && (k.era.at_least(4, 12) || (k.era.at_least(4, 8) && has("kaslr")));
    if random_image {
        for (_, l) in model.iter().filter(|(_, l)| l.starts_with("NODE_DATA(")) {
            caveats.push((
                l.clone(),
                String::from(
                    "the kernel image's physical address is random (KASLR) and the log does not print it: 16 MiB assumed",
                ),
            ));
        }
    }
    let cmp = compare(&k.era, &log, &model, &caveats, boot.is_err());
    let count = |s: Status| {
        cmp.iter()
            .filter(|c| c.status == s && c.log.is_some())
            .count()
    };
    let extra = cmp.iter().filter(|c| c.log.is_none()).count();
    let summary = Summary {
        exact: count(Status::Exact) + count(Status::PhysExact),
        differ: count(Status::Differs) + extra,
        unsure: count(Status::Unsure),
        unprinted: count(Status::Unprinted),
        not_modeled: count(Status::NotModeled),
        not_reached: count(Status::NotReached),
        total: cmp.iter().filter(|c| c.log.is_some()).count(),
    };
    let lines = cmp
        .iter()
        .map(|c| LineReport {
            family: c.family,
            status: if c.log.is_none() {
                "model only"
            } else {
                c.status.word()
            },
            line: c.log.as_ref().map(|(n, _)| *n),
            log: c.log.as_ref().map(|(_, t)| t.clone()),
            model: c.model.clone(),
            why: c.why.clone(),
            available_error: c.available_error,
        })
        .collect();
    Ok(CheckReport {
        log: name.to_string(),
        inputs: inputs.describe().lines().map(String::from).collect(),
        defaults: notes,
        missing: inputs.missing(),
        unreadable,
        boot_error: boot.err().map(|e| e.to_string()),
        lines,
        summary,
        available_errors: cmp.iter().filter_map(|c| c.available_error).collect(),
    })
}

pub fn run(args: &CheckArgs) -> ExitCode {
    if args.zoneinfo.kernel.is_some()
        && args.zoneinfo.zoneinfo.is_none()
        && args.slabinfo.slabinfo.is_none()
    {
        eprintln!(
            "bootmm: --kernel goes with --zoneinfo or --slabinfo (a boot log names its kernel)"
        );
        return ExitCode::from(exit::INPUT);
    }
    if args.slabinfo.slabinfo.is_some() {
        let kernel = match args
            .zoneinfo
            .kernel
            .as_deref()
            .map(bootmm::KernelVersion::parse)
        {
            Some(None) => {
                eprintln!(
                    "bootmm: --kernel {:?}: expected a release like 5.4 or 4.18.0-80.el8",
                    args.zoneinfo.kernel.as_deref().unwrap_or("")
                );
                return ExitCode::from(exit::INPUT);
            }
            Some(Some(k)) => Some(k),
            None => None,
        };
        return crate::check_slabinfo::run(&args.slabinfo, kernel, args.json, args.verbose);
    }
    let Some(log_path) = args
        .log
        .as_ref()
        .filter(|_| args.zoneinfo.zoneinfo.is_none())
    else {
        return crate::check_zoneinfo::run(&args.zoneinfo, args.json, args.verbose);
    };
    let text = match crate::read_bounded(log_path) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::from(exit::INPUT);
        }
    };
    let name = log_path.display().to_string();
    let report = match check_text(&text, &name) {
        Ok(r) => r,
        Err(e) => {
            for (line, why) in LogInputs::parse(&text)
                .unreadable
                .iter()
                .map(|w| (w.line, &w.value))
            {
                eprintln!("bootmm: {name}:{line}: {why}");
            }
            eprintln!("bootmm: {name}: {e}");
            return ExitCode::from(exit::INPUT);
        }
    };
    for (line, why) in &report.unreadable {
        eprintln!("bootmm: {name}:{line}: {why}");
    }
    if args.json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bootmm: {e}");
                return ExitCode::from(exit::FAILED);
            }
        }
    } else {
        print!("{}", report.render_text(args.verbose));
    }
    let status = report.exit_status();
    if let (Some(e), exit::FAILED) = (&report.boot_error, status) {
        eprintln!("bootmm: the model's boot stopped: {e}");
    }
    if status == exit::INCOMPLETE {
        eprintln!(
            "bootmm: check incomplete: the model's boot stopped ({}); {} lines compared, the log's later lines were not",
            report.boot_error.as_deref().unwrap_or(""),
            report.summary.total
        );
    } else if status == exit::INPUT {
        eprintln!(
            "bootmm: {name}: nothing to compare: the log has none of the lines the model predicts; lines of families not modeled yet: {}",
            report.summary.not_modeled
        );
    }
    ExitCode::from(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> Vec<(usize, String)> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect()
    }
    fn model(lines: &[&str]) -> Vec<(Level, String)> {
        lines.iter().map(|l| (Level::Info, l.to_string())).collect()
    }

    #[test]
    fn blocks_are_classified_by_their_header() {
        let c = classify([
            "Zone ranges:",
            "  DMA      empty",
            "Movable zone start for each node",
            "  Node 0: 0x1",
            "x",
        ]);
        assert_eq!(c[0], c[1]);
        assert_ne!(c[1], c[3]);
        assert_eq!(c[2], c[3]);
        assert_eq!(c[4], None);
    }

    #[test]
    fn exact_differs_and_not_modeled() {
        let l = log(&[
            "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
            "last_pfn = 0x140000 max_arch_pfn = 0x400000000",
            "Zone ranges:",
            "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
        ]);
        let m = model(&[
            "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
            "last_pfn = 0x13ffff max_arch_pfn = 0x400000000",
        ]);
        let c = compare(&Era::default(), &l, &m, &[], false);
        let st: Vec<Status> = c.iter().map(|c| c.status).collect();
        assert_eq!(
            st,
            vec![
                Status::Exact,
                Status::Differs,
                Status::NotModeled,
                Status::NotModeled
            ]
        );
    }

    #[test]
    fn missing_model_line_in_a_modeled_family_is_a_difference() {
        let l = log(&[
            "last_pfn = 0x1 max_arch_pfn = 0x2",
            "last_pfn = 0x3 max_arch_pfn = 0x2",
        ]);
        let m = model(&["last_pfn = 0x1 max_arch_pfn = 0x2"]);
        let c = compare(&Era::default(), &l, &m, &[], false);
        assert_eq!(c[1].status, Status::Differs);
    }

    #[test]
    fn firmware_updates_are_inputs_not_predictions() {
        assert!(is_low_fixup(
            "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved"
        ));
        assert!(!is_low_fixup(
            "e820: update [mem 0x7fe5e018-0x7fe6e057] usable ==> usable"
        ));
    }

    #[test]
    fn memory_line_scores_physpages_and_reports_available() {
        let l = log(&["Memory: 8010812K/8310740K available (8356K kernel code, 1278K rwdata, 3920K rodata, 1476K init, 1292K bss, 299928K reserved, 0K cma-reserved)"]);
        let m = model(&["Memory: 8000000K/8310740K available (8356K kernel code, 1278K rwdata, 3920K rodata, 1476K init, 1292K bss, 310740K reserved, 0K cma-reserved)"]);
        let c = compare(&Era::default(), &l, &m, &[], false);
        assert_eq!(c[0].status, Status::PhysExact);
        let e = c[0].available_error.unwrap();
        assert!((e - (8000000.0 - 8010812.0) / 8010812.0).abs() < 1e-12);
        let m = model(&["Memory: 8010812K/8310744K available (8356K kernel code, 1278K rwdata, 3920K rodata, 1476K init, 1292K bss, 299928K reserved, 0K cma-reserved)"]);
        assert_eq!(
            compare(&Era::default(), &l, &m, &[], false)[0].status,
            Status::Differs
        );
        assert_eq!(memory_fields("Memory: 1K/2K available (x)"), Some((1, 2)));
        assert_eq!(
            memory_fields("Memory: 498260k/524276k available (3083k kernel code, 396k absent, 25620k reserved, 2048k data, 592k init)"),
            Some((498260, 524276))
        );
    }
}
