//! `/proc/zoneinfo` (mm/vmstat.c `zoneinfo_show_print`): read a real one and recompute what
//! the watermark code put there.
//!
//! The file shows, per zone of every online node, the managed pages and the numbers
//! `init_per_zone_wmark_min` derived from them: min/low/high(/promo) watermarks, the
//! "protection" (`lowmem_reserve`) array, the per-cpu pageset sizes and the vmstat threshold.
//! bootmm parses every era's layout, infers the era from it when not told, and recomputes
//! each number with the kernel's formulas; a number is "exact" only when the formula
//! reproduces it. Values fixed at boot while the file shows today's managed counts are
//! searched for a boot-time snapshot that reproduces all of them at once.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::era::{Arch, Era, KernelVersion};
use crate::mm::mm_init::{zone_batchsize, ZoneType};
use crate::mm::watermark::{
    __setup_per_zone_wmarks, calculate_min_free_kbytes, calculate_normal_threshold,
    lowmem_reserve_ratio, node_spans, nr_free_buffer_pages, pageblock_nr_pages, protection_all,
    set_recommended_min_free_kbytes, thp_raise_survives_boot, wmark_clamped_zone,
    zone_set_pageset_high_and_batch, WmZone, ZoneWatermarks, DEFAULT_WATERMARK_SCALE_FACTOR,
};

/// One CPU's pageset lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcpLine {
    pub cpu: u32,
    pub count: u64,
    pub high: u64,
    pub batch: u64,
    pub high_min: Option<u64>,
    pub high_max: Option<u64>,
}

/// One "Node %d, zone %8s" block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneRecord {
    pub nid: u32,
    pub name: String,
    pub free: Option<u64>,
    pub boost: Option<u64>,
    pub min: Option<u64>,
    pub low: Option<u64>,
    pub high: Option<u64>,
    pub promo: Option<u64>,
    pub scanned: Option<u64>,
    pub spanned: Option<u64>,
    pub present: Option<u64>,
    pub managed: Option<u64>,
    pub cma: Option<u64>,
    pub protection: Vec<u64>,
    pub per_node_stats: bool,
    pub pcp: Vec<PcpLine>,
    pub threshold: Option<u32>,
}

/// A parsed /proc/zoneinfo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneinfoFile {
    pub zones: Vec<ZoneRecord>,
}

/// Why a zoneinfo text could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneinfoError {
    NoZones,
    BadLine {
        line: usize,
        text: String,
    },
    UnknownZone(String),
    /// The zone set cannot be reconciled with the protection arrays.
    ZoneSet(String),
}

impl fmt::Display for ZoneinfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneinfoError::NoZones => write!(f, "no \"Node N, zone NAME\" blocks found"),
            ZoneinfoError::BadLine { line, text } => {
                write!(f, "line {line}: cannot read {text:?}")
            }
            ZoneinfoError::UnknownZone(z) => write!(f, "unknown zone name {z:?}"),
            ZoneinfoError::ZoneSet(s) => write!(f, "{s}"),
        }
    }
}

fn zone_type_of(name: &str) -> Option<ZoneType> {
    ZoneType::ALL.iter().copied().find(|z| z.name() == name)
}

fn num(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

impl ZoneinfoFile {
    /// Parse the text of /proc/zoneinfo (any era). A leading `# key: value` header ended by
    /// `# ---` is skipped.
    pub fn parse(text: &str) -> Result<Self, ZoneinfoError> {
        let mut zones: Vec<ZoneRecord> = Vec::new();
        let mut lines = text.lines().enumerate().peekable();
        if text.starts_with('#') {
            for (_, l) in lines.by_ref() {
                if l.trim() == "# ---" {
                    break;
                }
            }
        }
        let mut in_node_stats = false;
        for (i, raw) in lines {
            let l = raw.trim_end();
            if let Some(rest) = l.strip_prefix("Node ") {
                let (nid, zname) =
                    rest.split_once(", zone")
                        .ok_or_else(|| ZoneinfoError::BadLine {
                            line: i + 1,
                            text: l.to_string(),
                        })?;
                let nid = nid.trim().parse().map_err(|_| ZoneinfoError::BadLine {
                    line: i + 1,
                    text: l.to_string(),
                })?;
                let name = zname.trim().to_string();
                if zone_type_of(&name).is_none() {
                    return Err(ZoneinfoError::UnknownZone(name));
                }
                zones.push(ZoneRecord {
                    nid,
                    name,
                    ..ZoneRecord::default()
                });
                in_node_stats = false;
                continue;
            }
            let Some(z) = zones.last_mut() else {
                continue;
            };
            let t = l.trim();
            if t == "per-node stats" {
                z.per_node_stats = true;
                in_node_stats = true;
                continue;
            }
            if let Some(v) = t.strip_prefix("pages free") {
                z.free = num(v);
                in_node_stats = false;
                continue;
            }
            if in_node_stats {
                continue;
            }
            if let Some(p) = t.strip_prefix("protection:") {
                let inner = p.trim().trim_start_matches('(').trim_end_matches(')');
                let mut v = Vec::new();
                for x in inner.split(',') {
                    let n: i64 = x.trim().parse().map_err(|_| ZoneinfoError::BadLine {
                        line: i + 1,
                        text: l.to_string(),
                    })?;
                    v.push(n.max(0) as u64);
                }
                z.protection = v;
                continue;
            }
            if let Some(c) = t.strip_prefix("cpu:") {
                z.pcp.push(PcpLine {
                    cpu: num(c).unwrap_or(0) as u32,
                    ..PcpLine::default()
                });
                continue;
            }
            if let Some(v) = t.strip_prefix("vm stats threshold:") {
                if z.threshold.is_none() {
                    z.threshold = num(v).map(|x| x as u32);
                }
                continue;
            }
            let mut it = t.split_whitespace();
            let (Some(key), Some(val)) = (it.next(), it.next()) else {
                continue;
            };
            let Some(val) = num(val) else {
                continue;
            };
            if let Some(k) = key.strip_suffix(':') {
                if let Some(p) = z.pcp.last_mut() {
                    match k {
                        "count" => p.count = val,
                        "high" => p.high = val,
                        "batch" => p.batch = val,
                        "high_min" => p.high_min = Some(val),
                        "high_max" => p.high_max = Some(val),
                        _ => {}
                    }
                }
                continue;
            }
            let slot = match key {
                "boost" => &mut z.boost,
                "min" => &mut z.min,
                "low" => &mut z.low,
                "high" => &mut z.high,
                "promo" => &mut z.promo,
                "scanned" => &mut z.scanned,
                "spanned" => &mut z.spanned,
                "present" => &mut z.present,
                "managed" => &mut z.managed,
                "cma" => &mut z.cma,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(val);
            }
        }
        if zones.is_empty() {
            return Err(ZoneinfoError::NoZones);
        }
        Ok(ZoneinfoFile { zones })
    }

    /// Online CPUs: the number of "cpu:" entries of the first zone that lists pagesets.
    pub fn online_cpus(&self) -> u32 {
        self.zones
            .iter()
            .map(|z| z.pcp.len())
            .find(|&n| n > 0)
            .unwrap_or(1) as u32
    }

    pub fn nodes(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.zones.iter().map(|z| z.nid).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The layout features that bound the era, and the candidate releases they allow.
    pub fn infer_eras(&self) -> (String, Vec<KernelVersion>) {
        let any = |f: &dyn Fn(&ZoneRecord) -> bool| self.zones.iter().any(f);
        let v = KernelVersion::new;
        // Where a stable release changed a rule the layout cannot show (the protection of
        // empty upper zones, 6.10 to 6.12.18 and 6.13.6), both sides are candidates.
        if any(&|z| z.pcp.iter().any(|p| p.high_min.is_some())) {
            return (
                "high_min/high_max pageset lines: 6.13+".into(),
                alloc::vec![v(6, 18, 0), v(6, 13, 0)],
            );
        }
        if any(&|z| z.promo.is_some()) {
            return (
                "promo line: 6.12".into(),
                alloc::vec![v(6, 12, 19), v(6, 12, 0)],
            );
        }
        if any(&|z| z.boost.is_some()) {
            return (
                "boost line: 6.1-6.11".into(),
                alloc::vec![v(6, 1, 0), v(6, 6, 0), v(6, 10, 0)],
            );
        }
        if any(&|z| z.cma.is_some()) {
            return ("cma line: 5.15-6.0".into(), alloc::vec![v(5, 15, 0)]);
        }
        // pcp high of 6 * batch in every populated zone: before 5.14.
        let fixed_high = self
            .zones
            .iter()
            .flat_map(|z| z.pcp.iter())
            .all(|p| p.high == 6 * p.batch || p.batch <= 1 && p.high == 0);
        if any(&|z| z.per_node_stats) {
            return if fixed_high {
                (
                    "per-node stats, pcp high = 6 * batch: 4.8-5.13".into(),
                    alloc::vec![v(4, 14, 0), v(4, 19, 0), v(5, 10, 0)],
                )
            } else {
                (
                    "per-node stats, pcp high from the low watermark: 5.14".into(),
                    alloc::vec![v(5, 14, 0)],
                )
            };
        }
        if any(&|z| z.managed.is_some()) {
            return (
                "managed line, no per-node stats: 3.8-4.7".into(),
                alloc::vec![v(3, 18, 0), v(4, 4, 0), v(4, 7, 0)],
            );
        }
        (
            "no managed line: before 3.8".into(),
            alloc::vec![v(3, 2, 0)],
        )
    }
}

/// Options for [`check_zoneinfo`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneinfoCheckParams {
    /// The kernel, if known; otherwise inferred from the layout.
    pub kernel: Option<KernelVersion>,
    /// `vm.min_free_kbytes` as set by the user (sysctl or boot parameter).
    pub min_free_kbytes: Option<u64>,
    /// khugepaged ran (THP "always" or "madvise"): `Some(true)`; `Some(false)`: it did not;
    /// `None`: try both.
    pub thp: Option<bool>,
    pub watermark_scale_factor: Option<u64>,
}

/// How a number was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Exact,
    /// Reproduced, with a reason that is not the plain current state.
    Explained(String),
    Differs {
        model: u64,
    },
}

/// One compared number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compared {
    pub nid: u32,
    pub zone: String,
    pub what: String,
    pub real: u64,
    pub verdict: Verdict,
}

/// The result of checking one zoneinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneinfoReport {
    pub era: KernelVersion,
    pub era_reason: String,
    pub cpus: u32,
    pub nodes: u32,
    /// How min_free_kbytes was reached (e.g. "THP raise (khugepaged)").
    pub min_free_kbytes_source: String,
    pub min_free_kbytes: Option<u64>,
    pub notes: Vec<String>,
    /// Watermarks and protection: these decide the outcome.
    pub numbers: Vec<Compared>,
    /// pcp batch/high and the vmstat threshold: reported, not scored.
    pub extras: Vec<Compared>,
}

impl ZoneinfoReport {
    pub fn exact(&self) -> usize {
        self.numbers
            .iter()
            .filter(|c| c.verdict == Verdict::Exact)
            .count()
    }
    pub fn explained(&self) -> usize {
        self.numbers
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Explained(_)))
            .count()
    }
    pub fn differs(&self) -> usize {
        self.numbers
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Differs { .. }))
            .count()
    }
    pub fn ok(&self) -> bool {
        self.differs() == 0
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let ex_extra = self
            .extras
            .iter()
            .filter(|c| !matches!(c.verdict, Verdict::Differs { .. }))
            .count();
        alloc::format!(
            "summary: {} numbers: {} exact, {} explained, {} differ (min_free_kbytes: {}); pagesets/threshold: {} of {} reproduced",
            self.numbers.len(),
            self.exact(),
            self.explained(),
            self.differs(),
            self.min_free_kbytes_source,
            ex_extra,
            self.extras.len()
        )
    }

    /// The full text report.
    pub fn render(&self, verbose: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kernel: {}.{} ({}); online CPUs: {}; nodes: {}",
            self.era.major, self.era.minor, self.era_reason, self.cpus, self.nodes
        );
        if let Some(m) = self.min_free_kbytes {
            let _ = writeln!(s, "min_free_kbytes: {m} ({})", self.min_free_kbytes_source);
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        for (title, list) in [("", &self.numbers), ("pagesets: ", &self.extras)] {
            for c in list {
                let line = match &c.verdict {
                    Verdict::Exact | Verdict::Explained(_) if !verbose => continue,
                    Verdict::Exact => "exact".to_string(),
                    Verdict::Explained(why) => alloc::format!("explained: {why}"),
                    Verdict::Differs { model } => alloc::format!("differs (model {model})"),
                };
                let _ = writeln!(
                    s,
                    "{title}Node {}, zone {:>8}: {} {}: {line}",
                    c.nid, c.zone, c.what, c.real
                );
            }
        }
        s.push_str(&self.summary());
        s.push('\n');
        s
    }
}

/// The zones of the file as the model sees them: every configured zone of every node (zones
/// an old kernel does not list are empty), with managed pages (present before 3.8).
fn model_zones(f: &ZoneinfoFile) -> Result<(Vec<WmZone>, Vec<Option<usize>>), ZoneinfoError> {
    let prot_len = f
        .zones
        .iter()
        .map(|z| z.protection.len())
        .max()
        .unwrap_or(0);
    let mut types: Vec<ZoneType> = f
        .zones
        .iter()
        .filter_map(|z| zone_type_of(&z.name))
        .collect();
    types.sort();
    types.dedup();
    for extra in [ZoneType::Movable, ZoneType::Device] {
        if types.len() < prot_len && !types.contains(&extra) {
            types.push(extra);
            types.sort();
        }
    }
    if prot_len != 0 && types.len() != prot_len {
        return Err(ZoneinfoError::ZoneSet(alloc::format!(
            "{} zone types listed but protection arrays have {} entries",
            types.len(),
            prot_len
        )));
    }
    let mut out = Vec::new();
    let mut map = Vec::new();
    for nid in f.nodes() {
        for t in &types {
            let rec = f
                .zones
                .iter()
                .position(|z| z.nid == nid && zone_type_of(&z.name) == Some(*t));
            let (managed, present) = match rec {
                Some(k) => {
                    let z = &f.zones[k];
                    let present = z.present.unwrap_or(0);
                    (z.managed.unwrap_or(present), present)
                }
                None => (0, 0),
            };
            out.push(WmZone {
                nid,
                zone_type: *t,
                managed,
                present,
            });
            map.push(rec);
        }
    }
    Ok((out, map))
}

/// A way `min_free_kbytes` may have been reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MinFreeWay {
    User(u64),
    Plain,
    Thp,
    /// 4.1-4.6: khugepaged raised it first (subsys_initcall), then `init_per_zone_wmark_min`
    /// (module_init) recomputed the square root from `nr_free_buffer_pages()` less the raised
    /// high watermarks, and nothing raised it again.
    ThpOverwritten,
    /// 5.16+ with THP "never": the square root again, from `nr_free_buffer_pages()` less
    /// the first high watermarks ([`crate::mm::watermark::thp_off_recomputes`]).
    ThpOff,
}

impl MinFreeWay {
    fn label(self) -> &'static str {
        match self {
            MinFreeWay::User(_) => "user value",
            MinFreeWay::Plain => "computed at boot (int_sqrt)",
            MinFreeWay::Thp => "THP raise (khugepaged)",
            MinFreeWay::ThpOverwritten => {
                "computed at boot after a THP raise (khugepaged ran first, 4.1-4.6)"
            }
            MinFreeWay::ThpOff => "computed again as khugepaged stayed off (THP never, 5.16+)",
        }
    }
}

fn min_free_for(era: &Era, zones: &[WmZone], way: MinFreeWay, wsf: u64) -> u64 {
    let zero = alloc::vec![0u64; zones.len()];
    let plain = calculate_min_free_kbytes(era, nr_free_buffer_pages(zones, &zero), None);
    match way {
        MinFreeWay::User(u) => u,
        MinFreeWay::Plain => plain.min_free_kbytes,
        MinFreeWay::Thp => {
            let w = __setup_per_zone_wmarks(era, zones, plain.min_free_kbytes, wsf);
            let high: Vec<u64> = w.iter().map(|w| w.high).collect();
            set_recommended_min_free_kbytes(era, zones, &high, plain.min_free_kbytes, false)
                .min_free_kbytes
        }
        MinFreeWay::ThpOff => {
            let w = __setup_per_zone_wmarks(era, zones, plain.min_free_kbytes, wsf);
            let high: Vec<u64> = w.iter().map(|w| w.high).collect();
            calculate_min_free_kbytes(era, nr_free_buffer_pages(zones, &high), None).min_free_kbytes
        }
        MinFreeWay::ThpOverwritten => {
            let raised = set_recommended_min_free_kbytes(era, zones, &zero, 1024, false);
            let w = __setup_per_zone_wmarks(era, zones, raised.min_free_kbytes, wsf);
            let high: Vec<u64> = w.iter().map(|w| w.high).collect();
            calculate_min_free_kbytes(era, nr_free_buffer_pages(zones, &high), None).min_free_kbytes
        }
    }
}

/// The watermark boost that makes a zone's printed watermarks equal the model's: /proc shows
/// `_watermark[] + watermark_boost`. With a "boost" line (6.1+) that value is used; without
/// one, a 5.0+ kernel may carry an unprinted boost, which `boost_watermark` grows by a
/// pageblock at a time up to `high * watermark_boost_factor / 10000` (at least a pageblock).
fn zone_boost(era: &Era, z: &ZoneRecord, w: &ZoneWatermarks) -> Option<u64> {
    let b = match z.boost {
        Some(b) => b,
        None => {
            let b = z.min?.checked_sub(w.min)?;
            if b == 0 {
                0
            } else {
                if !era.at_least(5, 0) {
                    return None;
                }
                let pb = pageblock_nr_pages(era);
                let max_boost = mult_frac_u(w.high, 15000, 10000).max(pb);
                if b > max_boost || (b % pb != 0 && b != max_boost) {
                    return None;
                }
                b
            }
        }
    };
    let ok = eq_or_none(z.min, w.min + b)
        && eq_or_none(z.low, w.low + b)
        && eq_or_none(z.high, w.high + b)
        && eq_or_none(z.promo, w.promo + b);
    ok.then_some(b)
}

fn mult_frac_u(x: u64, n: u64, d: u64) -> u64 {
    (x / d) * n + (x % d) * n / d
}

/// Compare the watermarks of the listed zones; true when all match (allowing a boost).
fn wmarks_match(era: &Era, f: &ZoneinfoFile, map: &[Option<usize>], w: &[ZoneWatermarks]) -> bool {
    map.iter().zip(w).all(|(rec, w)| match rec {
        None => true,
        Some(k) => zone_boost(era, &f.zones[*k], w).is_some(),
    })
}

fn protection_match(f: &ZoneinfoFile, map: &[Option<usize>], p: &[Vec<u64>]) -> bool {
    map.iter().zip(p).all(|(rec, p)| match rec {
        None => true,
        Some(k) => f.zones[*k].protection.is_empty() || f.zones[*k].protection == *p,
    })
}

fn eq_or_none(o: Option<u64>, v: u64) -> bool {
    match o {
        None => true,
        Some(x) => x == v,
    }
}

/// Limits of the boot-snapshot search.
const MAX_COMBOS_PER_NODE: u64 = 4_000_000;
const MAX_SNAPSHOTS: u64 = 2_000_000;

/// The managed counts each zone may have had when `lowmem_reserve` was computed, from the
/// protection arrays (each entry is a sum of upper zones' managed pages divided by the lower
/// zone's ratio). Zones the arrays do not constrain keep their current count; empty zones
/// stay empty. Returns per zone `[lo, hi]`.
fn protection_intervals(
    era: &Era,
    f: &ZoneinfoFile,
    zones: &[WmZone],
    map: &[Option<usize>],
) -> Vec<(u64, u64)> {
    protection_bounds(era, f, zones, map)
        .iter()
        .zip(zones)
        .map(|(b, z)| b.unwrap_or((z.managed, z.managed)))
        .collect()
}

/// Per zone, the managed range the protection arrays allow, or `None` when no array
/// constrains the zone (the lowest populated zone of a node, empty zones).
fn protection_bounds(
    era: &Era,
    f: &ZoneinfoFile,
    zones: &[WmZone],
    map: &[Option<usize>],
) -> Vec<Option<(u64, u64)>> {
    let mut iv: Vec<Option<(u64, u64)>> = alloc::vec![None; zones.len()];
    for (s, n) in node_spans(zones) {
        let types: Vec<ZoneType> = zones[s..s + n].iter().map(|z| z.zone_type).collect();
        let ratio = lowmem_reserve_ratio(era, &types);
        for j in 0..n {
            if zones[s + j].managed == 0 {
                continue;
            }
            let (mut lo, mut hi) = (0u64, u64::MAX);
            let mut constrained = false;
            for i in 0..j {
                let r = ratio[i];
                let Some(k) = map[s + i] else { continue };
                let prot = &f.zones[k].protection;
                if r == 0 || zones[s + i].managed == 0 || prot.len() != n || prot[j] == 0 {
                    continue;
                }
                let (sj_lo, sj_hi) = (prot[j] * r, prot[j] * r + r - 1);
                let (sp_lo, sp_hi) = if j == i + 1 {
                    (0, 0)
                } else {
                    (prot[j - 1] * r, prot[j - 1] * r + r - 1)
                };
                lo = lo.max(sj_lo.saturating_sub(sp_hi));
                hi = hi.min(sj_hi.saturating_sub(sp_lo));
                constrained = true;
            }
            if constrained && lo <= hi {
                iv[s + j] = Some((lo, hi));
            }
        }
    }
    iv
}

/// A boot-time snapshot that reproduces every watermark and protection number.
struct SnapshotFit {
    way: MinFreeWay,
    /// Per zone: the range of managed counts over all fitting snapshots, and the one closest
    /// to the current counts.
    ranges: Vec<(u64, u64)>,
    closest: Vec<u64>,
    /// The protection arrays were left out of the fit: they match today's managed counts,
    /// so `lowmem_reserve` was recomputed after the watermarks were last set.
    protection_now: bool,
}

fn search_boot_snapshot(
    era: &Era,
    f: &ZoneinfoFile,
    zones: &[WmZone],
    map: &[Option<usize>],
    ways: &[MinFreeWay],
    wsf: u64,
) -> Option<SnapshotFit> {
    let iv = protection_intervals(era, f, zones, map);
    // Per node: every assignment within the intervals whose protection arrays match.
    let mut per_node: Vec<Vec<Vec<u64>>> = Vec::new();
    for (s, n) in node_spans(zones) {
        let mut count: u64 = 1;
        for &(lo, hi) in &iv[s..s + n] {
            count = count.saturating_mul(hi - lo + 1);
        }
        if count > MAX_COMBOS_PER_NODE {
            return None;
        }
        let types: Vec<ZoneType> = zones[s..s + n].iter().map(|z| z.zone_type).collect();
        let ratio = lowmem_reserve_ratio(era, &types);
        let mut ok = Vec::new();
        let mut cur: Vec<u64> = iv[s..s + n].iter().map(|r| r.0).collect();
        loop {
            let prot = crate::mm::watermark::setup_per_zone_lowmem_reserve(era, &cur, &ratio);
            if protection_match(f, &map[s..s + n], &prot) {
                ok.push(cur.clone());
            }
            // Next combination.
            let mut k = 0;
            loop {
                if k == n {
                    break;
                }
                if cur[k] < iv[s + k].1 {
                    cur[k] += 1;
                    break;
                }
                cur[k] = iv[s + k].0;
                k += 1;
            }
            if k == n {
                break;
            }
        }
        if ok.is_empty() {
            return None;
        }
        per_node.push(ok);
    }
    let total: u64 = per_node
        .iter()
        .fold(1u64, |a, v| a.saturating_mul(v.len() as u64));
    if total > MAX_SNAPSHOTS {
        return None;
    }
    let mut best: Option<SnapshotFit> = None;
    let mut best_dist = u64::MAX;
    let mut idx = alloc::vec![0usize; per_node.len()];
    loop {
        let managed: Vec<u64> = idx
            .iter()
            .enumerate()
            .flat_map(|(ni, &k)| per_node[ni][k].iter().copied())
            .collect();
        let snap: Vec<WmZone> = zones
            .iter()
            .zip(&managed)
            .map(|(z, &m)| WmZone { managed: m, ..*z })
            .collect();
        for &way in ways {
            let mfk = min_free_for(era, &snap, way, wsf);
            let w = __setup_per_zone_wmarks(era, &snap, mfk, wsf);
            if wmarks_match(era, f, map, &w) {
                let dist: u64 = snap
                    .iter()
                    .zip(zones)
                    .map(|(a, b)| a.managed.abs_diff(b.managed))
                    .sum();
                match &mut best {
                    Some(b) => {
                        for (r, &m) in b.ranges.iter_mut().zip(&managed) {
                            r.0 = r.0.min(m);
                            r.1 = r.1.max(m);
                        }
                        if dist < best_dist {
                            b.closest = managed.clone();
                            b.way = way;
                            best_dist = dist;
                        }
                    }
                    None => {
                        best = Some(SnapshotFit {
                            way,
                            ranges: managed.iter().map(|&m| (m, m)).collect(),
                            closest: managed.clone(),
                            protection_now: false,
                        });
                        best_dist = dist;
                    }
                }
                break;
            }
        }
        let mut k = 0;
        while k < idx.len() {
            idx[k] += 1;
            if idx[k] < per_node[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
        if k == idx.len() {
            break;
        }
    }
    best
}

/// The managed counts of `var` zones closest to `now` within `iv` that sum to `total`
/// (`None` when the intervals cannot reach it).
fn assign_closest(iv: &[(u64, u64)], now: &[u64], total: u64) -> Option<Vec<u64>> {
    let lo: u64 = iv.iter().map(|r| r.0).sum();
    let hi: u64 = iv.iter().map(|r| r.1).sum();
    if total < lo || total > hi {
        return None;
    }
    let mut m: Vec<u64> = iv
        .iter()
        .zip(now)
        .map(|(r, &c)| c.clamp(r.0, r.1))
        .collect();
    let mut sum: u64 = m.iter().sum();
    for (k, r) in iv.iter().enumerate() {
        if sum < total {
            let d = (total - sum).min(r.1 - m[k]);
            m[k] += d;
            sum += d;
        } else if sum > total {
            let d = (sum - total).min(m[k] - r.0);
            m[k] -= d;
            sum -= d;
        }
    }
    (sum == total).then_some(m)
}

/// The boot snapshot solved from the min watermarks. `__setup_per_zone_wmarks` gives each
/// lowmem zone `floor(pages_min * managed / lowmem_pages)`, so the printed mins sum to
/// `pages_min` less under one page per zone, and for a given `lowmem_pages` each zone's
/// managed count lies in the interval its min allows; a snapshot must also sum to
/// `lowmem_pages`. Unlike the enumeration, zones no protection array constrains (the lowest
/// populated zone of every node) are free here. Every snapshot reported is recomputed in
/// full (min_free_kbytes the chosen way, all watermarks, and with `use_protection` the
/// protection arrays); without it the arrays are not part of the fit (the caller checked
/// that they match today's managed counts).
#[allow(clippy::too_many_arguments)]
fn solve_boot_snapshot(
    era: &Era,
    f: &ZoneinfoFile,
    zones: &[WmZone],
    map: &[Option<usize>],
    ways: &[MinFreeWay],
    wsf: u64,
    use_protection: bool,
) -> Option<SnapshotFit> {
    let bounds = if use_protection {
        protection_bounds(era, f, zones, map)
    } else {
        alloc::vec![None; zones.len()]
    };
    let var: Vec<usize> = (0..zones.len())
        .filter(|&k| {
            map[k].is_some() && zones[k].managed > 0 && !wmark_clamped_zone(era, zones[k].zone_type)
        })
        .collect();
    if var.is_empty() {
        return None;
    }
    let mut mins = Vec::new();
    let mut boxes = Vec::new();
    for &k in &var {
        let z = &f.zones[map[k]?];
        mins.push(z.min?.checked_sub(z.boost.unwrap_or(0))?);
        let cap = zones[k].present.max(zones[k].managed);
        boxes.push(match bounds[k] {
            Some((lo, hi)) => (lo, hi.min(cap)),
            None => (1, cap),
        });
    }
    let now: Vec<u64> = var.iter().map(|&k| zones[k].managed).collect();
    let fixed: u64 = zones
        .iter()
        .enumerate()
        .filter(|(k, z)| !var.contains(k) && !wmark_clamped_zone(era, z.zone_type))
        .map(|(_, z)| z.managed)
        .sum();
    let now_sum: u64 = now.iter().sum();
    let t_lo = boxes
        .iter()
        .map(|b| b.0)
        .sum::<u64>()
        .max(now_sum - now_sum / 4);
    let t_hi: u64 = boxes.iter().map(|b| b.1).sum();
    let min_sum: u64 = mins.iter().sum();
    // The search walks the total lowmem page by page: cheap per step, but a terabyte host's
    // range would take minutes. Past this many steps it gives up (nothing is explained).
    const MAX_STEPS: u64 = 20_000_000;
    let steps = (t_hi.saturating_sub(t_lo) + 1).saturating_mul(var.len() as u64);
    if steps > MAX_STEPS {
        return None;
    }
    let snapshot = |m: &[u64]| -> Vec<WmZone> {
        let mut snap = zones.to_vec();
        for (i, &k) in var.iter().enumerate() {
            snap[k].managed = m[i];
        }
        snap
    };
    let fits = |m: &[u64], pages_min: u64| -> Option<MinFreeWay> {
        let snap = snapshot(m);
        ways.iter().copied().find(|&way| {
            let mfk = min_free_for(era, &snap, way, wsf);
            if mfk >> 2 != pages_min {
                return false;
            }
            let w = __setup_per_zone_wmarks(era, &snap, mfk, wsf);
            wmarks_match(era, f, map, &w)
                && (!use_protection || protection_match(f, map, &protection_all(era, &snap)))
        })
    };
    let mut best: Option<(u64, SnapshotFit)> = None;
    for pages_min in min_sum.max(1)..min_sum + var.len() as u64 {
        for tv in t_lo..=t_hi {
            let t = (tv + fixed) as u128;
            let p = pages_min as u128;
            let mut iv = Vec::with_capacity(var.len());
            for (i, &m) in mins.iter().enumerate() {
                // floor(p * managed / t) == m
                let lo = ((m as u128 * t).div_ceil(p) as u64).max(boxes[i].0);
                let hi = ((((m as u128 + 1) * t).div_ceil(p) - 1) as u64).min(boxes[i].1);
                if lo > hi {
                    break;
                }
                iv.push((lo, hi));
            }
            if iv.len() != var.len() {
                continue;
            }
            let Some(m) = assign_closest(&iv, &now, tv) else {
                continue;
            };
            let Some(way) = fits(&m, pages_min) else {
                continue;
            };
            let dist: u64 = m.iter().zip(&now).map(|(a, b)| a.abs_diff(*b)).sum();
            let full: Vec<u64> = snapshot(&m).iter().map(|z| z.managed).collect();
            let entry = best.get_or_insert_with(|| {
                (
                    u64::MAX,
                    SnapshotFit {
                        way,
                        ranges: full.iter().map(|&x| (x, x)).collect(),
                        closest: full.clone(),
                        protection_now: !use_protection,
                    },
                )
            });
            if dist < entry.0 {
                entry.0 = dist;
                entry.1.way = way;
                entry.1.closest = full.clone();
            }
            // Each zone's extremes for this lowmem total, kept only where they fit too.
            for i in 0..var.len() {
                for end in [iv[i].0, iv[i].1] {
                    let mut pinned = iv.clone();
                    pinned[i] = (end, end);
                    let Some(pm) = assign_closest(&pinned, &now, tv) else {
                        continue;
                    };
                    if fits(&pm, pages_min).is_some() {
                        for (j, &k) in var.iter().enumerate() {
                            let r = &mut entry.1.ranges[k];
                            r.0 = r.0.min(pm[j]);
                            r.1 = r.1.max(pm[j]);
                        }
                    }
                }
            }
            for (j, &k) in var.iter().enumerate() {
                let r = &mut entry.1.ranges[k];
                r.0 = r.0.min(m[j]);
                r.1 = r.1.max(m[j]);
            }
        }
    }
    best.map(|b| b.1)
}

/// Recompute every watermark, protection, pageset and threshold number of a zoneinfo.
pub fn check_zoneinfo(
    f: &ZoneinfoFile,
    p: &ZoneinfoCheckParams,
) -> Result<ZoneinfoReport, ZoneinfoError> {
    let (reason, candidates) = match p.kernel {
        Some(k) => ("given".to_string(), alloc::vec![k]),
        None => {
            let (r, c) = f.infer_eras();
            (alloc::format!("inferred: {r}"), c)
        }
    };
    let (zones, map) = model_zones(f)?;
    let wsf = p
        .watermark_scale_factor
        .unwrap_or(DEFAULT_WATERMARK_SCALE_FACTOR);
    let cpus = f.online_cpus();
    let nodes = f.nodes().len() as u32;
    let mut reports = Vec::new();
    for v in &candidates {
        let era = Era::new(*v, Arch::X86_64);
        let mut ways = Vec::new();
        if let Some(u) = p.min_free_kbytes {
            ways.push(MinFreeWay::User(u));
        } else {
            if p.thp != Some(true) {
                ways.push(MinFreeWay::Plain);
                if crate::mm::watermark::thp_off_recomputes(&era) {
                    ways.push(MinFreeWay::ThpOff);
                }
            }
            if p.thp != Some(false) && thp_raise_survives_boot(&era) {
                ways.push(MinFreeWay::Thp);
            }
            if p.thp != Some(false) && !thp_raise_survives_boot(&era) {
                ways.push(MinFreeWay::ThpOverwritten);
            }
        }
        reports.push(check_one(
            &era, f, &zones, &map, &ways, wsf, cpus, nodes, &reason,
        ));
    }
    // The candidate era with the fewest differences (then the most exact numbers, then the
    // most reproduced pageset numbers) wins.
    reports.sort_by_key(|r| {
        let extra_differs = r
            .extras
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Differs { .. }))
            .count();
        (r.differs(), usize::MAX - r.exact(), extra_differs)
    });
    reports.into_iter().next().ok_or(ZoneinfoError::NoZones)
}

#[allow(clippy::too_many_arguments)]
fn check_one(
    era: &Era,
    f: &ZoneinfoFile,
    zones: &[WmZone],
    map: &[Option<usize>],
    ways: &[MinFreeWay],
    wsf: u64,
    cpus: u32,
    nodes: u32,
    reason: &str,
) -> ZoneinfoReport {
    let mut notes = Vec::new();
    // 1. The current managed counts.
    let prot_now = protection_all(era, zones);
    let prot_ok = protection_match(f, map, &prot_now);
    let mut chosen: Option<(MinFreeWay, Vec<ZoneWatermarks>, u64)> = None;
    for &way in ways {
        let mfk = min_free_for(era, zones, way, wsf);
        let w = __setup_per_zone_wmarks(era, zones, mfk, wsf);
        if wmarks_match(era, f, map, &w) {
            chosen = Some((way, w, mfk));
            break;
        }
    }
    let mut numbers = Vec::new();
    let mut mfk_source = String::from("not reproduced");
    let mut mfk_value = None;
    let mut wm_verdict: Option<Verdict> = None;
    let mut prot_verdict: Option<Verdict> = prot_ok.then_some(Verdict::Exact);
    let mut model_w: Vec<ZoneWatermarks>;
    let mut model_p = prot_now.clone();
    let now_w: Vec<ZoneWatermarks>;
    if let Some((way, w, mfk)) = &chosen {
        mfk_source = way.label().to_string();
        mfk_value = Some(*mfk);
        wm_verdict = Some(match way {
            MinFreeWay::Thp => Verdict::Explained("THP raise (khugepaged)".into()),
            MinFreeWay::ThpOverwritten => {
                Verdict::Explained("min_free_kbytes recomputed after a THP raise".into())
            }
            _ => Verdict::Exact,
        });
        model_w = w.clone();
        now_w = w.clone();
    } else {
        let first = ways.first().copied().unwrap_or(MinFreeWay::Plain);
        let mfk = min_free_for(era, zones, first, wsf);
        model_w = __setup_per_zone_wmarks(era, zones, mfk, wsf);
        now_w = model_w.clone();
    }
    let mut pcp_zones: Vec<WmZone> = zones.to_vec();
    // 2. A boot-time snapshot reproducing everything at once.
    if chosen.is_none() || !prot_ok {
        let fit = search_boot_snapshot(era, f, zones, map, ways, wsf)
            .or_else(|| solve_boot_snapshot(era, f, zones, map, ways, wsf, true))
            .or_else(|| {
                prot_ok
                    .then(|| solve_boot_snapshot(era, f, zones, map, ways, wsf, false))
                    .flatten()
            });
        if let Some(fit) = fit {
            let mut parts = Vec::new();
            let mut grew = 0i64;
            for (k, z) in zones.iter().enumerate() {
                let (lo, hi) = fit.ranges[k];
                if lo != z.managed || hi != z.managed {
                    let range = if lo == hi {
                        alloc::format!("{lo}")
                    } else {
                        alloc::format!("{lo}..{hi}")
                    };
                    parts.push(alloc::format!(
                        "node {} {} {range} (now {})",
                        z.nid,
                        z.zone_type.name(),
                        z.managed
                    ));
                    grew += z.managed as i64 - fit.closest[k] as i64;
                }
            }
            let why = if grew >= 0 {
                alloc::format!(
                    "managed changed since boot (+{grew} pages, {} MiB: pages freed after init, e.g. initrd, init sections)",
                    grew >> 8
                )
            } else {
                alloc::format!(
                    "managed changed since boot ({grew} pages: pages taken away after init, e.g. balloon or offlined memory)"
                )
            };
            let mut text = alloc::format!("{why}; boot-time managed {}", parts.join(", "));
            if fit.way != MinFreeWay::Plain {
                text.push_str("; min_free_kbytes: ");
                text.push_str(fit.way.label());
            }
            if fit.protection_now {
                text.push_str(
                    "; protection matches today's managed counts, not these: lowmem_reserve was recomputed after managed changed and the watermarks were not (the file does not show what recomputed it)",
                );
            }
            notes.push(text);
            let snap: Vec<WmZone> = zones
                .iter()
                .zip(&fit.closest)
                .map(|(z, &m)| WmZone { managed: m, ..*z })
                .collect();
            let mfk = min_free_for(era, &snap, fit.way, wsf);
            mfk_source = alloc::format!("{}, boot-time managed", fit.way.label());
            mfk_value = Some(mfk);
            model_w = __setup_per_zone_wmarks(era, &snap, mfk, wsf);
            if !fit.protection_now {
                model_p = protection_all(era, &snap);
            }
            // 5.14+: setup_per_zone_wmarks ends with zone_pcp_update() on every zone, so
            // batch and high come from the managed counts of the last watermark setup.
            if era.at_least(5, 14) {
                pcp_zones = snap.clone();
            }
            let short = match fit.way {
                MinFreeWay::Thp => "boot-time managed, THP raise (khugepaged)",
                MinFreeWay::ThpOverwritten => "boot-time managed, recomputed after a THP raise",
                _ => "boot-time managed",
            };
            wm_verdict = Some(Verdict::Explained(short.into()));
            prot_verdict = Some(if prot_ok {
                Verdict::Exact
            } else {
                Verdict::Explained("boot-time managed".into())
            });
        }
    }
    for (k, rec) in map.iter().enumerate() {
        let Some(r) = rec else { continue };
        let z = &f.zones[*r];
        let mut w = model_w[k];
        let now = now_w[k];
        let boost = zone_boost(era, z, &w);
        let boost_note = match (boost, z.boost) {
            (Some(b), None) if b > 0 => Some(alloc::format!(
                "watermark_boost {b} (runtime, not printed before 6.1)"
            )),
            _ => None,
        };
        if let Some(b) = boost {
            w.min += b;
            w.low += b;
            w.high += b;
            w.promo += b;
        }
        let vals = [
            ("min", z.min, w.min, now.min),
            ("low", z.low, w.low, now.low),
            ("high", z.high, w.high, now.high),
            ("promo", z.promo, w.promo, now.promo),
        ];
        let plain_now = chosen
            .as_ref()
            .is_some_and(|c| !matches!(c.0, MinFreeWay::Thp | MinFreeWay::ThpOverwritten));
        for (what, real, model, now) in vals {
            let Some(real) = real else { continue };
            let verdict = match &wm_verdict {
                _ if real == now
                    && z.boost.unwrap_or(0) == 0
                    && (plain_now || zones[k].managed == 0) =>
                {
                    Verdict::Exact
                }
                _ if real == model && boost_note.is_some() => {
                    Verdict::Explained(boost_note.clone().unwrap_or_default())
                }
                Some(v) if real == model => v.clone(),
                _ if real == model => Verdict::Exact,
                _ => Verdict::Differs { model },
            };
            numbers.push(Compared {
                nid: z.nid,
                zone: z.name.clone(),
                what: what.into(),
                real,
                verdict,
            });
        }
        if !z.protection.is_empty() {
            let model = &model_p[k];
            for (j, &real) in z.protection.iter().enumerate() {
                let m = model.get(j).copied().unwrap_or(0);
                let now = prot_now[k].get(j).copied().unwrap_or(0);
                let verdict = match &prot_verdict {
                    _ if real == now => Verdict::Exact,
                    Some(v) if real == m => v.clone(),
                    _ if real == m => Verdict::Exact,
                    _ => Verdict::Differs { model: m },
                };
                numbers.push(Compared {
                    nid: z.nid,
                    zone: z.name.clone(),
                    what: alloc::format!("protection[{j}]"),
                    real,
                    verdict,
                });
            }
        }
    }
    let extras = check_pagesets(era, f, &pcp_zones, map, &model_w, cpus, nodes, &mut notes);
    ZoneinfoReport {
        era: era.version,
        era_reason: reason.to_string(),
        cpus,
        nodes,
        min_free_kbytes_source: mfk_source,
        min_free_kbytes: mfk_value,
        notes,
        numbers,
        extras,
    }
}

/// pcp batch/high and the vmstat threshold (values fixed at boot or CPU hotplug; the CPUs of
/// each node are taken as an even share of the online CPUs).
#[allow(clippy::too_many_arguments)]
fn check_pagesets(
    era: &Era,
    f: &ZoneinfoFile,
    zones: &[WmZone],
    map: &[Option<usize>],
    w: &[ZoneWatermarks],
    cpus: u32,
    nodes: u32,
    notes: &mut Vec<String>,
) -> Vec<Compared> {
    let mut out = Vec::new();
    let node_cpus = (cpus / nodes.max(1)).max(1);
    if nodes > 1 {
        notes.push(alloc::format!(
            "pagesets: CPUs per node taken as {node_cpus} (zoneinfo does not show the CPU-to-node map)"
        ));
    }
    let mut deferred_note = false;
    for (k, rec) in map.iter().enumerate() {
        let Some(r) = rec else { continue };
        let z = &f.zones[*r];
        let Some(p) = z.pcp.first() else { continue };
        let zw = zones[k];
        let model = zone_set_pageset_high_and_batch(era, zw.managed, w[k].low, node_cpus, cpus);
        // A node whose cpumask is empty (the CPUs of emulated nodes without an SRAT have no
        // node) splits high over all online CPUs (`nr_split_cpus` 0 in zone_highsize).
        let no_cpus = zone_set_pageset_high_and_batch(era, zw.managed, w[k].low, 0, cpus);
        let cpuless = |real: u64, m: Option<u64>| {
            (nodes > 1 && m == Some(real)).then(|| {
                Verdict::Explained(
                    "the node lists no CPUs (NUMA emulation without an SRAT), so high is split over all online CPUs".into(),
                )
            })
        };
        let push = |out: &mut Vec<Compared>, what: &str, real: u64, verdict: Verdict| {
            out.push(Compared {
                nid: z.nid,
                zone: z.name.clone(),
                what: what.into(),
                real,
                verdict,
            })
        };
        // Deferred struct page init (4.17-5.3): batch fixed from the first 128 MiB section.
        let section_batch = (zone_batchsize(era, 32768) as u64).max(1);
        let v = if p.batch == model.batch {
            Verdict::Exact
        } else if p.batch == section_batch && !era.at_least(5, 4) {
            deferred_note = true;
            Verdict::Explained(
                "deferred struct page init: batch from the zone's first 128 MiB section (4.17-5.3)"
                    .into(),
            )
        } else {
            Verdict::Differs { model: model.batch }
        };
        push(&mut out, "batch", p.batch, v);
        if era.at_least(6, 7) {
            if let (Some(hmin), Some(hmax)) = (p.high_min, p.high_max) {
                let m = model.high_min.unwrap_or(0);
                let v = cpuless(hmin, no_cpus.high_min).filter(|_| hmin != m);
                push(&mut out, "high_min", hmin, v.unwrap_or(verdict_of(hmin, m)));
                let m = model.high_max.unwrap_or(0);
                let v = cpuless(hmax, no_cpus.high_max).filter(|_| hmax != m);
                push(&mut out, "high_max", hmax, v.unwrap_or(verdict_of(hmax, m)));
            }
        } else {
            let v = if p.high == model.high {
                Verdict::Exact
            } else if !era.at_least(5, 14) && p.high == 6 * p.batch && p.batch != model.batch {
                Verdict::Explained("6 * batch".into())
            } else if let Some(v) = cpuless(p.high, Some(no_cpus.high)) {
                v
            } else {
                Verdict::Differs { model: model.high }
            };
            push(&mut out, "high", p.high, v);
        }
        if let Some(t) = z.threshold {
            let m = calculate_normal_threshold(zw.managed, cpus) as u64;
            push(
                &mut out,
                "vm stats threshold",
                t as u64,
                verdict_of(t as u64, m),
            );
        }
    }
    if deferred_note {
        notes.push(
            "pagesets: a batch of 7 comes from a zone whose struct pages were not all initialised when the pagesets were set up (deferred init, 4.17-5.3)".into(),
        );
    }
    out
}

fn verdict_of(real: u64, model: u64) -> Verdict {
    if real == model {
        Verdict::Exact
    } else {
        Verdict::Differs { model }
    }
}

#[cfg(test)]
mod tests;
