// SPDX-License-Identifier: GPL-2.0-only
//! `bootmm diff A B`: two machines, eras or command lines side by side. Each side is a real
//! boot log (the machine is taken from it, as `boot --from-dmesg` does) or a quoted string of
//! `boot`'s machine options; the options given to `diff` itself apply to both sides, each
//! side's own on top. The report (the log lines that differ, the per-zone numbers,
//! /proc/buddyinfo, /proc/slabinfo) is built once as values and rendered as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use bootmm::mm::slab_common::{get_slabinfo, SlabInfo};
use bootmm::mm::vmstat::{buddyinfo_zones, zoneinfo_zones, BuddyinfoZone, ZoneinfoZone};
use bootmm::Kernel;
use clap::Parser;
use serde::Serialize;

use crate::machine_args::MachineArgs;

#[derive(clap::Args, Clone, Debug)]
pub struct DiffArgs {
    /// Side A: a boot log file, or machine options in quotes (e.g. "--kernel 4.4 --mem 2G")
    #[arg(value_name = "A", allow_hyphen_values = true)]
    pub a: String,
    /// Side B: a boot log file, or machine options in quotes
    #[arg(value_name = "B", allow_hyphen_values = true)]
    pub b: String,
    /// Print one JSON object instead of the text report
    #[arg(long)]
    pub json: bool,
    /// Machine options for both sides (each side's own options are applied on top)
    #[command(flatten)]
    pub machine: MachineArgs,
}

/// One side's own option string, parsed with `boot`'s machine options.
#[derive(Parser)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct SideOptions {
    #[command(flatten)]
    machine: MachineArgs,
}

// ---------------------------------------------------------------------------------------
// The report, as values: both renderings are made from these.

/// The whole comparison.
#[derive(Serialize, Debug)]
pub struct Report {
    pub a: Side,
    pub b: Side,
    pub log: LogDiff,
    pub zones: Section<ZoneRow>,
    pub buddyinfo: Section<BuddyRow>,
    pub slabinfo: Section<SlabRow>,
}

/// What one side is: where it came from, the kernel and machine, and where its boot stopped.
#[derive(Serialize, Debug)]
pub struct Side {
    /// "A" or "B".
    pub label: &'static str,
    /// The side as given on the command line.
    pub spec: String,
    /// Whether the machine came from a boot log or from options.
    pub source: Source,
    /// The kernel release modelled.
    pub kernel: String,
    pub machine: MachineSummary,
    /// What building the machine defaulted (a log's missing facts, a clipped command line).
    pub notes: Vec<String>,
    /// Set when the boot stopped before the end.
    pub stopped: Option<Stop>,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    BootLog,
    Options,
}

#[derive(Serialize, Debug)]
pub struct MachineSummary {
    pub name: String,
    pub cpus: u32,
    /// The firmware map's usable RAM.
    pub usable_ram_bytes: u64,
    /// Online NUMA nodes after boot (0 when boot stopped before they were set up).
    pub nodes: usize,
    pub cmdline: String,
}

/// Where and why a boot stopped.
#[derive(Serialize, Debug)]
pub struct Stop {
    /// The boot error.
    pub reason: String,
    /// How many log lines the kernel printed before it stopped.
    pub after_lines: usize,
    /// The last of them.
    pub last_line: Option<String>,
    /// The last kernel function entered, with its callers (outermost first).
    pub last_call: Vec<String>,
}

/// The kernel logs, line by line.
#[derive(Serialize, Debug)]
pub struct LogDiff {
    pub identical: bool,
    pub a_lines: usize,
    pub b_lines: usize,
    /// Lines only in A.
    pub removed: usize,
    /// Lines only in B.
    pub added: usize,
    pub hunks: Vec<Hunk>,
}

/// One unified-diff hunk: `@@ -a_start,a_len +b_start,b_len @@` (starts 1-based).
#[derive(Serialize, Debug)]
pub struct Hunk {
    pub a_start: usize,
    pub a_len: usize,
    pub b_start: usize,
    pub b_len: usize,
    pub lines: Vec<HunkLine>,
}

#[derive(Serialize, Debug)]
pub struct HunkLine {
    pub tag: LineTag,
    pub text: String,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LineTag {
    Context,
    Removed,
    Added,
}

/// A per-machine section: compared, or not reached by a side whose boot stopped.
#[derive(Serialize, Debug)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Section<T> {
    Compared {
        /// Rows alike on both sides.
        equal: usize,
        /// Rows that differ or are on one side only.
        differ: usize,
        rows: Vec<T>,
    },
    NotReached {
        /// The sides whose boot stopped before this was set up.
        sides: Vec<&'static str>,
    },
}

/// A number, or a list of them (`protection`, a pcp value that differs between CPUs).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum Value {
    One(u64),
    Many(Vec<u64>),
}

/// B minus A, element by element for lists of the same length.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum Delta {
    One(i128),
    Many(Vec<i128>),
}

/// One zone number on both sides.
#[derive(Serialize, Debug)]
pub struct Field {
    pub name: &'static str,
    pub a: Option<Value>,
    pub b: Option<Value>,
    pub equal: bool,
    pub delta: Option<Delta>,
}

/// One (node, zone) present on either side.
#[derive(Serialize, Debug)]
pub struct ZoneRow {
    pub node: u32,
    pub zone: String,
    /// "A" or "B" when the zone is on one side only.
    pub only_in: Option<&'static str>,
    pub equal: bool,
    pub fields: Vec<Field>,
}

/// One populated zone's free blocks per order.
#[derive(Serialize, Debug)]
pub struct BuddyRow {
    pub node: u32,
    pub zone: String,
    pub a: Option<Vec<u64>>,
    pub b: Option<Vec<u64>>,
    pub equal: bool,
}

/// A slab cache's /proc/slabinfo numbers.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SlabNums {
    pub active_objs: u64,
    pub num_objs: u64,
    pub objsize: u32,
    pub objperslab: u32,
    pub pagesperslab: u32,
}

/// A cache whose numbers differ, or that one side only has.
#[derive(Serialize, Debug)]
pub struct SlabRow {
    pub name: String,
    pub a: Option<SlabNums>,
    pub b: Option<SlabNums>,
}

// ---------------------------------------------------------------------------------------
// Building the sides.

/// A side that could not be used: the message names it.
fn side_error(label: &str, spec: &str, why: impl std::fmt::Display) -> String {
    format!("{label} {spec:?}: {why}")
}

/// Both sides' options on top of `diff`'s own: a side's value replaces a common one, lists
/// (sysctls, NUMA ranges and distances) and command-line words add to them.
fn merged(common: &MachineArgs, side: MachineArgs) -> MachineArgs {
    let c = common.clone();
    let cat = |mut x: Vec<String>, y: Vec<String>| {
        x.extend(y);
        x
    };
    MachineArgs {
        mem: side.mem.or(c.mem),
        cpus: side.cpus.or(c.cpus),
        e820: side.e820.or(c.e820),
        from_dmesg: side.from_dmesg.or(c.from_dmesg),
        from_host: side.from_host || c.from_host,
        cmdline: match (c.cmdline, side.cmdline) {
            (Some(x), Some(y)) => Some(format!("{x} {y}")),
            (x, y) => y.or(x),
        },
        kernel: side.kernel.or(c.kernel),
        i386: side.i386.or(c.i386),
        la57: side.la57 || c.la57,
        nodes: side.nodes.or(c.nodes),
        numa_node: cat(c.numa_node, side.numa_node),
        numa_distance: cat(c.numa_distance, side.numa_distance),
        sysctl: cat(c.sysctl, side.sysctl),
    }
}

/// The machine options of one side: a boot log when the side names an existing file, else
/// its words (split as a shell would, honouring quotes) parsed as `boot`'s options.
fn side_args(
    label: &str,
    spec: &str,
    common: &MachineArgs,
) -> Result<(Source, MachineArgs), String> {
    let path = std::path::Path::new(spec);
    if path.exists() {
        std::fs::File::open(path).map_err(|e| side_error(label, spec, e))?;
        let own = MachineArgs {
            from_dmesg: Some(path.to_path_buf()),
            ..Default::default()
        };
        return Ok((Source::BootLog, merged(common, own)));
    }
    let words = shlex::split(spec)
        .ok_or_else(|| side_error(label, spec, "unbalanced quotes or a trailing backslash"))?;
    if let Some(w) = words.first().filter(|w| !w.starts_with('-')) {
        // Not an option: meant as a boot log that is not there.
        let e = std::fs::metadata(w).err().map_or_else(
            || String::from("expected machine options or a boot log"),
            |e| format!("{w}: {e}"),
        );
        return Err(side_error(label, spec, e));
    }
    let own = SideOptions::try_parse_from(&words).map_err(|e| {
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or_default();
        side_error(label, spec, first.trim_start_matches("error: "))
    })?;
    Ok((Source::Options, merged(common, own.machine)))
}

/// Read the two sides of a `bootmm diff` as `run` does, without booting them: the machine
/// options each side's words give (or the boot log it names). For the fuzzer.
///
/// # Errors
/// The message `run` prints for a side that does not parse.
pub fn parse_sides(a: &str, b: &str) -> Result<(), String> {
    let common = MachineArgs::default();
    for (label, spec) in [("A", a), ("B", b)] {
        let (_, m) = side_args(label, spec, &common)?;
        m.build_with_notes()
            .map_err(|e| side_error(label, spec, e))?;
    }
    Ok(())
}

/// What the report needs of one booted (or stopped) machine; the kernel itself is dropped
/// before the other side boots.
struct Booted {
    side: Side,
    log: Vec<String>,
    /// `None` when boot stopped before the zones were set up.
    numbers: Option<Numbers>,
}

struct Numbers {
    zones: Vec<ZoneinfoZone>,
    buddy: Vec<BuddyinfoZone>,
    slabs: Vec<SlabInfo>,
}

/// The last function entered on the boot CPU, with the calls enclosing it.
fn last_call(k: &Kernel) -> Vec<String> {
    let spans: Vec<_> = k.trace.spans().into_iter().filter(|s| s.cpu == 0).collect();
    let Some(last) = spans.iter().max_by_key(|s| s.begin) else {
        return Vec::new();
    };
    let mut chain = vec![last];
    let mut cur = last;
    while cur.depth > 0 {
        match spans
            .iter()
            .filter(|s| s.depth + 1 == cur.depth && s.begin < cur.begin && s.end >= cur.end)
            .max_by_key(|s| s.begin)
        {
            Some(p) => {
                chain.push(p);
                cur = p;
            }
            None => break,
        }
    }
    chain.reverse();
    chain.iter().map(|s| s.func.to_string()).collect()
}

/// Build side `label`'s machine, boot it, and keep what the report compares.
fn boot_side(
    label: &'static str,
    spec: &str,
    common: &MachineArgs,
) -> Result<Booted, (u8, String)> {
    let input = |e| (crate::exit::INPUT, e);
    let (source, args) = side_args(label, spec, common).map_err(input)?;
    let (machine, notes) = args
        .build_with_notes()
        .map_err(|e| input(side_error(label, spec, e)))?;
    let summary = |k: &Kernel| MachineSummary {
        name: k.machine.name.clone(),
        cpus: k.machine.cpus,
        usable_ram_bytes: k
            .machine
            .e820
            .iter()
            .filter(|e| e.typ == bootmm::arch::x86::e820::E820Type::Ram)
            .map(|e| e.size)
            .sum(),
        nodes: k.page_alloc().nodes().len(),
        cmdline: k.machine.cmdline.clone(),
    };
    let (k, booted) = crate::boot::boot(machine)
        .map_err(|e| (crate::exit::FAILED, side_error(label, spec, e)))?;
    let log: Vec<String> = k.printk.lines().iter().map(|l| l.text.clone()).collect();
    let stopped = booted.err().map(|e| Stop {
        reason: e.to_string(),
        after_lines: log.len(),
        last_line: log.last().cloned(),
        last_call: last_call(&k),
    });
    let numbers = (stopped.is_none() && crate::cat::zones_ready(&k).is_ok()).then(|| Numbers {
        zones: zoneinfo_zones(&k),
        buddy: buddyinfo_zones(&k),
        slabs: get_slabinfo(&k),
    });
    Ok(Booted {
        side: Side {
            label,
            spec: spec.to_string(),
            source,
            kernel: k.era.release.clone(),
            machine: summary(&k),
            notes,
            stopped,
        },
        log,
        numbers,
    })
}

// ---------------------------------------------------------------------------------------
// Comparing.

/// Lines of context around each change.
const CONTEXT: usize = 3;

fn diff_logs(a: &[String], b: &[String]) -> LogDiff {
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let d = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .diff_slices(&a, &b);
    let (mut removed, mut added) = (0, 0);
    let hunks: Vec<Hunk> = d
        .grouped_ops(CONTEXT)
        .iter()
        .map(|group| {
            let (first, last) = (&group[0], &group[group.len() - 1]);
            let (ar, br) = (
                first.old_range().start..last.old_range().end,
                first.new_range().start..last.new_range().end,
            );
            let lines = group
                .iter()
                .flat_map(|op| d.iter_changes(op))
                .map(|c| {
                    let tag = match c.tag() {
                        similar::ChangeTag::Equal => LineTag::Context,
                        similar::ChangeTag::Delete => LineTag::Removed,
                        similar::ChangeTag::Insert => LineTag::Added,
                    };
                    removed += usize::from(tag == LineTag::Removed);
                    added += usize::from(tag == LineTag::Added);
                    HunkLine {
                        tag,
                        text: c.value().to_string(),
                    }
                })
                .collect();
            // Unified-diff numbering: 1-based, an empty range names the line before it.
            let start = |r: &std::ops::Range<usize>| r.start + usize::from(!r.is_empty());
            Hunk {
                a_start: start(&ar),
                a_len: ar.len(),
                b_start: start(&br),
                b_len: br.len(),
                lines,
            }
        })
        .collect();
    LogDiff {
        identical: hunks.is_empty(),
        a_lines: a.len(),
        b_lines: b.len(),
        removed,
        added,
        hunks,
    }
}

/// The kernel's zone order, for rows of zones that only one side has.
fn zone_rank(name: &str) -> usize {
    ["DMA", "DMA32", "Normal", "HighMem", "Movable", "Device"]
        .iter()
        .position(|z| *z == name)
        .unwrap_or(usize::MAX)
}

/// Each key of either side with its value on each side, in key order.
type Paired<K, T> = Vec<(K, Option<T>, Option<T>)>;

fn pair_up<K: Ord, T>(
    a: impl IntoIterator<Item = (K, T)>,
    b: impl IntoIterator<Item = (K, T)>,
) -> Paired<K, T> {
    let mut m: BTreeMap<K, (Option<T>, Option<T>)> = BTreeMap::new();
    for (k, v) in a {
        m.entry(k).or_insert((None, None)).0 = Some(v);
    }
    for (k, v) in b {
        m.entry(k).or_insert((None, None)).1 = Some(v);
    }
    m.into_iter().map(|(k, (a, b))| (k, a, b)).collect()
}

/// The key of a zone's row: node, then the kernel's zone order.
type ZoneKey = (u32, usize, &'static str);

fn zone_key(nid: u32, zone: &'static str) -> ZoneKey {
    (nid, zone_rank(zone), zone)
}

/// A per-CPU pageset value: one number when every CPU has it, else the list by CPU.
fn pcp(z: &ZoneinfoZone, f: impl Fn(&bootmm::mm::vmstat::ZoneinfoPageset) -> u64) -> Value {
    let v: Vec<u64> = z.pagesets.iter().map(f).collect();
    match v.first() {
        Some(&x) if v.iter().all(|&y| y == x) => Value::One(x),
        _ => Value::Many(v),
    }
}

fn zone_values(z: &ZoneinfoZone) -> Vec<(&'static str, Value)> {
    vec![
        ("spanned", Value::One(z.spanned)),
        ("present", Value::One(z.present)),
        ("managed", Value::One(z.managed)),
        ("min", Value::One(z.min)),
        ("low", Value::One(z.low)),
        ("high", Value::One(z.high)),
        ("protection", Value::Many(z.protection.clone())),
        ("pcp_high", pcp(z, |p| p.high)),
        ("pcp_batch", pcp(z, |p| p.batch)),
    ]
}

fn delta(a: &Value, b: &Value) -> Option<Delta> {
    match (a, b) {
        (Value::One(x), Value::One(y)) => Some(Delta::One(i128::from(*y) - i128::from(*x))),
        (Value::Many(x), Value::Many(y)) if x.len() == y.len() => Some(Delta::Many(
            x.iter()
                .zip(y)
                .map(|(p, q)| i128::from(*q) - i128::from(*p))
                .collect(),
        )),
        _ => None,
    }
}

fn zone_row(node: u32, zone: &str, a: Option<&ZoneinfoZone>, b: Option<&ZoneinfoZone>) -> ZoneRow {
    let (va, vb) = (a.map(zone_values), b.map(zone_values));
    let names = va.as_ref().or(vb.as_ref()).into_iter().flatten();
    let fields: Vec<Field> = names
        .enumerate()
        .map(|(i, (name, _))| {
            let x = va.as_ref().map(|v| v[i].1.clone());
            let y = vb.as_ref().map(|v| v[i].1.clone());
            let equal = x == y;
            let d = x
                .as_ref()
                .zip(y.as_ref())
                .filter(|_| !equal)
                .and_then(|(x, y)| delta(x, y));
            Field {
                name,
                equal,
                a: x,
                b: y,
                delta: d,
            }
        })
        .collect();
    ZoneRow {
        node,
        zone: zone.to_string(),
        only_in: match (a, b) {
            (Some(_), None) => Some("A"),
            (None, Some(_)) => Some("B"),
            _ => None,
        },
        equal: fields.iter().all(|f| f.equal),
        fields,
    }
}

fn compared<T>(rows: Vec<T>, is_equal: impl Fn(&T) -> bool) -> Section<T> {
    let equal = rows.iter().filter(|r| is_equal(r)).count();
    Section::Compared {
        equal,
        differ: rows.len() - equal,
        rows,
    }
}

fn diff_zones(a: &Numbers, b: &Numbers) -> Section<ZoneRow> {
    let key = |z: &ZoneinfoZone| zone_key(z.nid, z.zone);
    let rows = pair_up(
        a.zones.iter().map(|z| (key(z), z)),
        b.zones.iter().map(|z| (key(z), z)),
    )
    .into_iter()
    .map(|((n, _, z), x, y)| zone_row(n, z, x, y))
    .collect();
    compared(rows, |r: &ZoneRow| r.equal)
}

fn diff_buddy(a: &Numbers, b: &Numbers) -> Section<BuddyRow> {
    let key = |z: &BuddyinfoZone| zone_key(z.nid, z.zone);
    let rows = pair_up(
        a.buddy.iter().map(|z| (key(z), z.nr_free.clone())),
        b.buddy.iter().map(|z| (key(z), z.nr_free.clone())),
    )
    .into_iter()
    .map(|((node, _, zone), a, b)| BuddyRow {
        node,
        zone: zone.to_string(),
        equal: a == b,
        a,
        b,
    })
    .collect();
    compared(rows, |r: &BuddyRow| r.equal)
}

fn slab_nums(i: &SlabInfo) -> SlabNums {
    SlabNums {
        active_objs: i.active_objs,
        num_objs: i.num_objs,
        objsize: i.objsize,
        objperslab: i.objperslab,
        pagesperslab: i.pagesperslab,
    }
}

/// A side's caches keyed by name and, for a name listed twice, by its occurrence.
fn slab_keys(caches: &[SlabInfo]) -> Vec<((String, usize), SlabNums)> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    caches
        .iter()
        .map(|c| {
            let n = seen.entry(c.name.as_str()).or_default();
            *n += 1;
            ((c.name.clone(), *n), slab_nums(c))
        })
        .collect()
}

fn diff_slabs(a: &Numbers, b: &Numbers) -> Section<SlabRow> {
    let all = pair_up(slab_keys(&a.slabs), slab_keys(&b.slabs));
    let total = all.len();
    let rows: Vec<SlabRow> = all
        .into_iter()
        .filter(|(_, x, y)| x != y)
        .map(|((name, _), a, b)| SlabRow { name, a, b })
        .collect();
    Section::Compared {
        equal: total - rows.len(),
        differ: rows.len(),
        rows,
    }
}

fn not_reached<T>(sides: &[&'static str]) -> Section<T> {
    Section::NotReached {
        sides: sides.to_vec(),
    }
}

/// Compare two booted sides.
fn report(a: Booted, b: Booted) -> Report {
    let log = diff_logs(&a.log, &b.log);
    let stopped: Vec<&'static str> = [&a, &b]
        .iter()
        .filter(|s| s.numbers.is_none())
        .map(|s| s.side.label)
        .collect();
    let (zones, buddyinfo, slabinfo) = match (&a.numbers, &b.numbers) {
        (Some(x), Some(y)) => (diff_zones(x, y), diff_buddy(x, y), diff_slabs(x, y)),
        _ => (
            not_reached(&stopped),
            not_reached(&stopped),
            not_reached(&stopped),
        ),
    };
    Report {
        a: a.side,
        b: b.side,
        log,
        zones,
        buddyinfo,
        slabinfo,
    }
}

// ---------------------------------------------------------------------------------------
// Text.

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::One(v) => write!(f, "{v}"),
            Value::Many(v) => {
                let s: Vec<String> = v.iter().map(u64::to_string).collect();
                write!(f, "({})", s.join(", "))
            }
        }
    }
}

impl std::fmt::Display for Delta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delta::One(v) => write!(f, "{v:+}"),
            Delta::Many(v) => {
                let s: Vec<String> = v.iter().map(|d| format!("{d:+}")).collect();
                write!(f, "({})", s.join(", "))
            }
        }
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| String::from("-"), T::to_string)
}

fn side_text(out: &mut String, s: &Side) {
    let m = &s.machine;
    let what = match s.source {
        Source::BootLog => "boot log",
        Source::Options => "options",
    };
    let _ = writeln!(
        out,
        "{}: {} {:?}: Linux {}, {}, {} CPUs, {:.1} MiB usable RAM, {} node(s), command line {:?}",
        s.label,
        what,
        s.spec,
        s.kernel,
        m.name,
        m.cpus,
        m.usable_ram_bytes as f64 / f64::from(1u32 << 20),
        m.nodes,
        m.cmdline
    );
    for n in &s.notes {
        let _ = writeln!(out, "{}: note: {n}", s.label);
    }
    if let Some(st) = &s.stopped {
        let _ = writeln!(
            out,
            "{}: boot stopped after log line {}{}: {}",
            s.label,
            st.after_lines,
            if st.last_call.is_empty() {
                String::new()
            } else {
                format!(" (last call entered: {})", st.last_call.join(" > "))
            },
            st.reason
        );
    }
}

fn log_text(out: &mut String, l: &LogDiff) {
    if l.identical {
        let _ = writeln!(out, "log: identical ({} lines)", l.a_lines);
        return;
    }
    let _ = writeln!(
        out,
        "log: {} lines in A, {} in B; {} only in A (-), {} only in B (+), {} hunk(s)",
        l.a_lines,
        l.b_lines,
        l.removed,
        l.added,
        l.hunks.len()
    );
    for h in &l.hunks {
        let _ = writeln!(
            out,
            "@@ -{},{} +{},{} @@",
            h.a_start, h.a_len, h.b_start, h.b_len
        );
        for line in &h.lines {
            let mark = match line.tag {
                LineTag::Context => ' ',
                LineTag::Removed => '-',
                LineTag::Added => '+',
            };
            let _ = writeln!(out, "{mark}{}", line.text);
        }
    }
}

/// The section's heading, or its "not reached" line; `Some(rows)` when compared.
fn section_head<'a, T>(out: &mut String, name: &str, s: &'a Section<T>) -> Option<&'a [T]> {
    match s {
        Section::Compared {
            equal,
            differ,
            rows,
        } => {
            let _ = writeln!(out, "\n{name}: {differ} differ, {equal} equal");
            Some(rows)
        }
        Section::NotReached { sides } => {
            let _ = writeln!(
                out,
                "\n{name}: not reached (the boot of {} stopped)",
                sides.join(" and ")
            );
            None
        }
    }
}

fn zones_text(out: &mut String, s: &Section<ZoneRow>) {
    let Some(rows) = section_head(out, "zones", s) else {
        return;
    };
    for r in rows {
        let head = format!("  Node {}, zone {:>8}", r.node, r.zone);
        let listed = |fields: &mut dyn Iterator<Item = &Field>,
                      pick: fn(&Field) -> &Option<Value>| {
            fields
                .map(|f| format!("{} {}", f.name, opt(pick(f))))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(side) = r.only_in {
            fn side_a(f: &Field) -> &Option<Value> {
                &f.a
            }
            fn side_b(f: &Field) -> &Option<Value> {
                &f.b
            }
            let pick = if side == "A" { side_a } else { side_b };
            let _ = writeln!(
                out,
                "{head}: only in {side}: {}",
                listed(&mut r.fields.iter(), pick)
            );
            continue;
        }
        if r.equal {
            let _ = writeln!(
                out,
                "{head}: equal: {}",
                listed(&mut r.fields.iter(), |f| &f.a)
            );
            continue;
        }
        let _ = writeln!(out, "{head}:");
        for f in r.fields.iter().filter(|f| !f.equal) {
            let _ = writeln!(
                out,
                "    {:<10} A {:>12}  B {:>12}  {}",
                f.name,
                opt(&f.a),
                opt(&f.b),
                opt(&f.delta)
            );
        }
        let same: Vec<&Field> = r.fields.iter().filter(|f| f.equal).collect();
        if !same.is_empty() {
            let _ = writeln!(
                out,
                "    equal: {}",
                listed(&mut same.into_iter(), |f| &f.a)
            );
        }
    }
}

fn orders(v: &Option<Vec<u64>>) -> String {
    v.as_ref().map_or_else(
        || String::from("(none)"),
        |v| {
            let cols: Vec<String> = v.iter().map(|n| format!("{n:>6}")).collect();
            cols.join(" ")
        },
    )
}

fn buddy_text(out: &mut String, s: &Section<BuddyRow>) {
    let Some(rows) = section_head(out, "buddyinfo", s) else {
        return;
    };
    for r in rows {
        let head = format!("  Node {}, zone {:>8}", r.node, r.zone);
        if r.equal {
            let _ = writeln!(out, "{head}  = {}", orders(&r.a));
        } else {
            let _ = writeln!(out, "{head}  A {}", orders(&r.a));
            let _ = writeln!(out, "{:>w$}  B {}", "", orders(&r.b), w = head.len());
        }
    }
}

fn slab_text(out: &mut String, s: &Section<SlabRow>) {
    let Some(rows) = section_head(out, "slabinfo", s) else {
        return;
    };
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  {:<24} {:<4} {:>11} {:>9} {:>8} {:>11} {:>13}",
        "cache", "side", "active_objs", "num_objs", "objsize", "objperslab", "pagesperslab"
    );
    for r in rows {
        let mut name = r.name.as_str();
        for (label, v) in [("A", &r.a), ("B", &r.b)] {
            let Some(v) = v else { continue };
            let _ = writeln!(
                out,
                "  {:<24} {:<4} {:>11} {:>9} {:>8} {:>11} {:>13}",
                name, label, v.active_objs, v.num_objs, v.objsize, v.objperslab, v.pagesperslab
            );
            name = "";
        }
        if r.a.is_none() || r.b.is_none() {
            let _ = writeln!(
                out,
                "  {:<24} {:<4} (no such cache)",
                "",
                if r.a.is_none() { "A" } else { "B" }
            );
        }
    }
}

/// The report as text, in sections: the sides, the log, zones, buddyinfo, slabinfo.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    side_text(&mut out, &r.a);
    side_text(&mut out, &r.b);
    out.push('\n');
    log_text(&mut out, &r.log);
    zones_text(&mut out, &r.zones);
    buddy_text(&mut out, &r.buddyinfo);
    slab_text(&mut out, &r.slabinfo);
    out
}

pub fn run(args: &DiffArgs) -> ExitCode {
    let mut sides = Vec::with_capacity(2);
    for (label, spec) in [("A", &args.a), ("B", &args.b)] {
        match boot_side(label, spec, &args.machine) {
            Ok(b) => sides.push(b),
            Err((code, e)) => {
                eprintln!("bootmm: diff: {e}");
                return ExitCode::from(code);
            }
        }
    }
    let b = sides.pop().expect("two sides");
    let a = sides.pop().expect("two sides");
    let stopped = a.side.stopped.is_some() || b.side.stopped.is_some();
    let r = report(a, b);
    if args.json {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bootmm: {e}");
                return ExitCode::from(crate::exit::FAILED);
            }
        }
    } else {
        print!("{}", render_text(&r));
    }
    for s in [&r.a, &r.b] {
        if let Some(st) = &s.stopped {
            eprintln!("bootmm: diff: {}: boot stopped: {}", s.label, st.reason);
        }
    }
    ExitCode::from(if stopped {
        crate::exit::FAILED
    } else {
        crate::exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_options_merge_on_the_common_ones() {
        let common = MachineArgs {
            mem: Some("8G".into()),
            cmdline: Some("quiet".into()),
            sysctl: vec!["vm.min_free_kbytes=65536".into()],
            ..Default::default()
        };
        let (src, m) = side_args(
            "A",
            "--kernel 4.4 --cmdline 'mem=2G  numa=off' --sysctl \"vm.lowmem_reserve_ratio=256 256 32 0\"",
            &common,
        )
        .unwrap();
        assert_eq!(src, Source::Options);
        assert_eq!(m.mem.as_deref(), Some("8G"));
        assert_eq!(m.kernel.as_deref(), Some("4.4"));
        assert_eq!(m.cmdline.as_deref(), Some("quiet mem=2G  numa=off"));
        assert_eq!(
            m.sysctl,
            [
                "vm.min_free_kbytes=65536",
                "vm.lowmem_reserve_ratio=256 256 32 0"
            ]
        );
        let (_, m) = side_args("B", "--mem 2G", &common).unwrap();
        assert_eq!(m.mem.as_deref(), Some("2G"));
        let e = side_args("B", "--kernel 'unclosed", &common).unwrap_err();
        assert!(e.starts_with("B \"--kernel 'unclosed\""), "{e}");
        let e = side_args("A", "--frobnicate", &common).unwrap_err();
        assert!(e.contains("--frobnicate"), "{e}");
        let e = side_args("A", "/nonexistent/boot.log", &common).unwrap_err();
        assert!(e.contains("/nonexistent/boot.log"), "{e}");
    }

    #[test]
    fn hunks_are_numbered_as_unified_diffs() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let d = diff_logs(&v("a b c d e f g h i j"), &v("a b c d X f g h i j k"));
        assert!(!d.identical);
        assert_eq!((d.removed, d.added), (1, 2));
        assert_eq!(d.hunks.len(), 1);
        let h = &d.hunks[0];
        assert_eq!((h.a_start, h.a_len, h.b_start, h.b_len), (2, 9, 2, 10));
        assert!(diff_logs(&v("a b"), &v("a b")).identical);
    }
}
