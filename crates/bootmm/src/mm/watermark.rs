//! `mm/page_alloc.c`: `min_free_kbytes`, zone watermarks, `lowmem_reserve`, pcp sizes, and the
//! vmstat threshold (`mm/vmstat.c`); the THP raise lives in `mm/khugepaged.c`.
//!
//! Once every zone knows its managed pages, the kernel derives a global reserve
//! (`min_free_kbytes`, the square root of 16 × low memory in KiB), spreads it over the zones in
//! proportion to their size as the min/low/high watermarks, and computes how many pages each
//! lower zone withholds from allocations that could have used a higher zone (`lowmem_reserve`,
//! shown as "protection" in /proc/zoneinfo). bootmm computes the same numbers per era as pure
//! functions over the per-zone managed counts; *when* they are computed (which managed counts
//! they see) is the caller's business, as it is the initcall order's in the kernel.

use alloc::string::String;
use alloc::vec::Vec;

use crate::era::{Arch, Era};
use crate::mm::mm_init::{zone_batchsize, ZoneType};

/// `SWAP_CLUSTER_MAX`: the smallest min watermark of a HighMem (6.6+: or Movable) zone.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// `MIGRATE_PCPTYPES`: the migrate types with per-cpu lists (3 in every era).
pub const MIGRATE_PCPTYPES: u64 = 3;
/// Default `watermark_scale_factor` (4.6+; 10 = 0.1% of the zone).
pub const DEFAULT_WATERMARK_SCALE_FACTOR: u64 = 10;
/// `MIN_PERCPU_PAGELIST_HIGH_FRACTION` (5.14+).
pub const MIN_PERCPU_PAGELIST_HIGH_FRACTION: u64 = 8;

/// One zone of one node, as the watermark code reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WmZone {
    pub nid: u32,
    pub zone_type: ZoneType,
    /// `zone_managed_pages(zone)` (before 3.8 `zone->present_pages`, which then held the
    /// boot estimate).
    pub managed: u64,
    /// `zone->present_pages` (`populated_zone()` tests it).
    pub present: u64,
}

/// The watermarks of one zone (`zone->_watermark[]` and `watermark_boost`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneWatermarks {
    pub min: u64,
    pub low: u64,
    pub high: u64,
    /// `WMARK_PROMO` (computed from 5.18; shown in /proc/zoneinfo from 6.12).
    pub promo: u64,
    /// `watermark_boost` (5.0+): 0 whenever the watermarks are recomputed.
    pub boost: u64,
}

/// `pageblock_nr_pages` on x86: 2 MiB huge pages (x86_64, i386 PAE) or 4 MiB (i386 without PAE).
pub fn pageblock_nr_pages(era: &Era) -> u64 {
    match era.arch {
        Arch::I386 { pae: false } => 1024,
        _ => 512,
    }
}

/// `int_sqrt` (lib/math/int_sqrt.c): the floor of the square root.
pub fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Bit-by-bit method, as the kernel's.
    let mut m: u64 = 1 << ((63 - x.leading_zeros()) & !1);
    let (mut x, mut y) = (x, 0u64);
    while m != 0 {
        let b = y + m;
        y >>= 1;
        if x >= b {
            x -= b;
            y += m;
        }
        m >>= 2;
    }
    y
}

/// `nr_free_zone_pages(offset)` (mm/page_alloc.c): Σ over the local node's fallback zonelist
/// (every node's zones) of zones with index ≤ `offset` of `managed - high` where positive.
/// `high[i]` is the high watermark of `zones[i]` (0 before the first watermark setup).
pub fn nr_free_zone_pages(zones: &[WmZone], high: &[u64], offset: ZoneType) -> u64 {
    zones
        .iter()
        .enumerate()
        .filter(|(_, z)| z.zone_type <= offset && z.managed > 0)
        .map(|(i, z)| z.managed.saturating_sub(high.get(i).copied().unwrap_or(0)))
        .sum()
}

/// `nr_free_buffer_pages` (mm/page_alloc.c): `nr_free_zone_pages(gfp_zone(GFP_USER))`, i.e.
/// ZONE_NORMAL and below.
pub fn nr_free_buffer_pages(zones: &[WmZone], high: &[u64]) -> u64 {
    nr_free_zone_pages(zones, high, ZoneType::Normal)
}

/// The clamp `calculate_min_free_kbytes` applies: `[128, 65536]` KiB, `[128, 262144]` from 5.7
/// (raised between the 5.4 and 5.10 trees; 5.7 is the release believed to carry it).
pub fn min_free_kbytes_clamp(era: &Era) -> (u64, u64) {
    if era.at_least(5, 7) {
        (128, 262_144)
    } else {
        (128, 65_536)
    }
}

/// What `calculate_min_free_kbytes` decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinFreeKbytes {
    pub min_free_kbytes: u64,
    /// The unclamped `int_sqrt(lowmem_kbytes * 16)`.
    pub computed: u64,
    /// The pr_warn line when a user value wins.
    pub warning: Option<String>,
}

/// 3.14+: a user-set `min_free_kbytes` is remembered (`user_min_free_kbytes`): a user value
/// at least the computed one survives `init_per_zone_wmark_min`, and the THP raise says
/// what it raised (believed to be one 3.14 change with "mm: show message when raising
/// min_free_kbytes in THP"; the release is taken from logs).
fn keeps_user_min_free_kbytes(era: &Era) -> bool {
    era.at_least(3, 14)
}

/// `calculate_min_free_kbytes` / the first half of `init_per_zone_wmark_min`
/// (mm/page_alloc.c): `int_sqrt(lowmem_kbytes * 16)` clamped per era, where lowmem_kbytes is
/// `nr_free_buffer_pages()` in KiB. A `user_min_free_kbytes` (sysctl or `min_free_kbytes=`
/// before this runs) at least as large is kept (3.14+; earlier kernels overwrote it) with a
/// warning (printed from 4.13; the exact release is not confirmed).
pub fn calculate_min_free_kbytes(
    era: &Era,
    nr_free_buffer_pages: u64,
    user_min_free_kbytes: Option<u64>,
) -> MinFreeKbytes {
    let lowmem_kbytes = nr_free_buffer_pages * 4;
    let computed = int_sqrt(lowmem_kbytes * 16);
    let (lo, hi) = min_free_kbytes_clamp(era);
    match user_min_free_kbytes {
        Some(user) if keeps_user_min_free_kbytes(era) && computed <= user => MinFreeKbytes {
            min_free_kbytes: user,
            computed,
            warning: era.at_least(4, 13).then(|| {
                alloc::format!(
                    "min_free_kbytes is not updated to {} because user defined value {} is preferred",
                    computed as i32,
                    user as i32
                )
            }),
        },
        _ => MinFreeKbytes {
            min_free_kbytes: computed.clamp(lo, hi),
            computed,
            warning: None,
        },
    }
}

/// The result of `set_recommended_min_free_kbytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThpRaise {
    /// `recommended_min` in KiB.
    pub recommended_kbytes: u64,
    /// `min_free_kbytes` afterwards.
    pub min_free_kbytes: u64,
    /// "raising min_free_kbytes from %d to %lu to help transparent hugepage allocations",
    /// printed only when the old value was user-set (3.14+).
    pub line: Option<String>,
}

/// Whether the THP raise of `min_free_kbytes` is still in force after boot: khugepaged's
/// raise ran at late_initcall before 4.1 (after the watermark initcall), was overwritten by
/// `init_per_zone_wmark_min` (module_init) in 4.1–4.6, and runs after it (core_initcall)
/// from 4.7 on.
pub fn thp_raise_survives_boot(era: &Era) -> bool {
    !era.at_least(4, 1) || era.at_least(4, 7)
}

/// `hugepage_init`'s floor (mm/huge_memory.c): with fewer `totalram_pages` than 512 MiB,
/// THP is turned off and khugepaged never starts.
pub const THP_MIN_TOTALRAM_PAGES: u64 = 512 << (20 - 12);

/// `set_recommended_min_free_kbytes` (mm/huge_memory.c, mm/khugepaged.c from 4.8): raise
/// `min_free_kbytes` so that every populated zone (4.17+: only those up to ZONE_NORMAL, "mm/thp:
/// don't count ZONE_MOVABLE as the target for freepage reserving") keeps `2 +
/// MIGRATE_PCPTYPES²` pageblocks free, capped at 5% of `nr_free_buffer_pages()` (read with
/// the current high watermarks in `high`).
pub fn set_recommended_min_free_kbytes(
    era: &Era,
    zones: &[WmZone],
    high: &[u64],
    min_free_kbytes: u64,
    user_set: bool,
) -> ThpRaise {
    let nr_zones = zones
        .iter()
        .filter(|z| z.present > 0)
        .filter(|z| !era.at_least(4, 17) || z.zone_type <= ZoneType::Normal)
        .count() as u64;
    let pb = pageblock_nr_pages(era);
    let mut rec = pb * nr_zones * 2 + pb * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES;
    rec = rec.min(nr_free_buffer_pages(zones, high) / 20);
    let rec_kb = rec << 2;
    if rec_kb > min_free_kbytes {
        let line = (user_set && keeps_user_min_free_kbytes(era)).then(|| {
            alloc::format!(
                "raising min_free_kbytes from {} to {} to help transparent hugepage allocations",
                min_free_kbytes as i32,
                rec_kb
            )
        });
        ThpRaise {
            recommended_kbytes: rec_kb,
            min_free_kbytes: rec_kb,
            line,
        }
    } else {
        ThpRaise {
            recommended_kbytes: rec_kb,
            min_free_kbytes,
            line: None,
        }
    }
}

/// `mult_frac(x, numer, denom)`.
fn mult_frac(x: u64, numer: u64, denom: u64) -> u64 {
    let (q, r) = (x / denom, x % denom);
    q * numer + r * numer / denom
}

/// Zones whose min watermark is the SWAP_CLUSTER_MAX..128 clamp instead of a share of
/// `min_free_kbytes`: HighMem, and from 6.6 also Movable (changed between the 6.1 and 6.6
/// trees; not pinned to a release).
pub fn wmark_clamped_zone(era: &Era, z: ZoneType) -> bool {
    z.is_highmem() || (era.at_least(6, 6) && z == ZoneType::Movable)
}

/// `__setup_per_zone_wmarks` (mm/page_alloc.c): every zone (empty ones too) gets
/// `tmp = pages_min * managed / lowmem_pages` as its min (HighMem, 6.6+ Movable: managed/1024
/// clamped to 32..128), then low = min + d and high = min + 2d with d = tmp/4 before 4.6 and
/// `max(tmp/4, managed * watermark_scale_factor / 10000)` from 4.6; promo = high + d.
/// Before 4.6 high was min + tmp/2, which is the same number.
pub fn __setup_per_zone_wmarks(
    era: &Era,
    zones: &[WmZone],
    min_free_kbytes: u64,
    watermark_scale_factor: u64,
) -> Vec<ZoneWatermarks> {
    let pages_min = min_free_kbytes >> 2;
    let lowmem_pages: u64 = zones
        .iter()
        .filter(|z| !wmark_clamped_zone(era, z.zone_type))
        .map(|z| z.managed)
        .sum();
    zones
        .iter()
        .map(|z| {
            let tmp = if lowmem_pages == 0 {
                0
            } else {
                ((pages_min as u128 * z.managed as u128) / lowmem_pages as u128) as u64
            };
            let min = if wmark_clamped_zone(era, z.zone_type) {
                (z.managed / 1024).clamp(SWAP_CLUSTER_MAX, 128)
            } else {
                tmp
            };
            if era.at_least(4, 6) {
                let d = (tmp >> 2).max(mult_frac(z.managed, watermark_scale_factor, 10000));
                ZoneWatermarks {
                    min,
                    low: min + d,
                    high: min + 2 * d,
                    promo: min + 3 * d,
                    boost: 0,
                }
            } else {
                ZoneWatermarks {
                    min,
                    low: min + (tmp >> 2),
                    high: min + (tmp >> 1),
                    promo: min + (tmp >> 1) + (tmp >> 2),
                    boost: 0,
                }
            }
        })
        .collect()
}

/// `sysctl_lowmem_reserve_ratio[]` defaults, indexed like `zones` of one node. Before 4.17
/// the array had MAX_NR_ZONES-1 entries (256, 256 for DMA/DMA32, then 32, 32), so Normal and
/// HighMem got 32 and anything above was 0 (forced to 1 when used); 4.17 (with
/// [`LowmemReserveForm::RatioZero`]) made it one entry per zone: DMA 256, DMA32 256, Normal
/// 32, HighMem 0, Movable 0.
pub fn lowmem_reserve_ratio(era: &Era, zone_types: &[ZoneType]) -> Vec<u64> {
    let mut out = Vec::with_capacity(zone_types.len());
    if LowmemReserveForm::of(era) != LowmemReserveForm::Forced {
        for z in zone_types {
            out.push(match z {
                ZoneType::Dma | ZoneType::Dma32 => 256,
                ZoneType::Normal => 32,
                _ => 0,
            });
        }
    } else {
        // { [ZONE_DMA] 256, [ZONE_DMA32] 256, [HIGHMEM] 32, 32 } packed from index 0.
        let mut table = Vec::new();
        if zone_types.contains(&ZoneType::Dma) {
            table.push(256);
        }
        if zone_types.contains(&ZoneType::Dma32) {
            table.push(256);
        }
        if zone_types.contains(&ZoneType::HighMem) {
            table.push(32);
        }
        table.push(32);
        for i in 0..zone_types.len() {
            out.push(table.get(i).copied().unwrap_or(0));
        }
    }
    out
}

/// How `setup_per_zone_lowmem_reserve` fills `lowmem_reserve[i][j]`, decided per release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LowmemReserveForm {
    /// Up to 4.16: `Σ managed(i+1..=j) / ratio[i]`, a ratio below 1 forced to 1.
    Forced,
    /// 4.17 ("mm/page_alloc: don't reserve ZONE_HIGHMEM for ZONE_MOVABLE request", Joonsoo
    /// Kim): the same sums, but a ratio of 0 gives 0.
    RatioZero,
    /// 5.9 (88e8ac11d2ea "mm, page_alloc: fix core hung in free_pcppages_bulk()", also in the
    /// August 2020 stable releases 4.4.234, 4.9.234, 4.14.195, 4.19.142, 5.4.61, 5.7.18): a
    /// lower zone with no managed pages or a ratio of 0 gets 0, and its pages are not added
    /// to the sums of the zones below it.
    SkipEmpty,
    /// 5.11 (470c61d70299 "mm: page_alloc: refactor setup_per_zone_lowmem_reserve()", in
    /// 5.10.50): each zone's row is the running sum of the zones above it, 0 for an empty or
    /// ratio-0 zone. `empty_upper`: also 0 in the columns of upper zones without managed
    /// pages (96a5c186efff, 6.10; reverted by eae116d1f044 in 6.14, 6.12.19 and 6.13.7).
    Rows { empty_upper: bool },
}

impl LowmemReserveForm {
    /// The form of `era`'s kernel.
    pub fn of(era: &Era) -> Self {
        let v = |a, b, c| era.at_least_patch(a, b, c);
        let series = |a, b| era.version.major == a && era.version.minor == b;
        if era.at_least(5, 11) || v(5, 10, 50) {
            let reverted = era.at_least(6, 14)
                || (series(6, 12) && v(6, 12, 19))
                || (series(6, 13) && v(6, 13, 7));
            let empty_upper = era.at_least(6, 10) && !reverted;
            return LowmemReserveForm::Rows { empty_upper };
        }
        let stable_backport = [
            (4, 4, 234),
            (4, 9, 234),
            (4, 14, 195),
            (4, 19, 142),
            (5, 4, 61),
            (5, 7, 18),
        ]
        .iter()
        .any(|&(a, b, c)| series(a, b) && v(a, b, c));
        if era.at_least(5, 9) || stable_backport {
            LowmemReserveForm::SkipEmpty
        } else if era.at_least(4, 17) {
            LowmemReserveForm::RatioZero
        } else {
            LowmemReserveForm::Forced
        }
    }
}

/// `setup_per_zone_lowmem_reserve` (mm/page_alloc.c) for one node: `managed` and `ratio`
/// indexed by the node's zones; returns `lowmem_reserve[i][j]` (the zoneinfo "protection"),
/// in the era's [`LowmemReserveForm`].
pub fn setup_per_zone_lowmem_reserve(era: &Era, managed: &[u64], ratio: &[u64]) -> Vec<Vec<u64>> {
    let n = managed.len();
    let mut res = alloc::vec![alloc::vec![0u64; n]; n];
    let form = LowmemReserveForm::of(era);
    match form {
        LowmemReserveForm::Rows { empty_upper } => {
            for i in 0..n.saturating_sub(1) {
                let r = ratio.get(i).copied().unwrap_or(0);
                let clear = r == 0 || managed[i] == 0;
                let mut s = 0u64;
                for j in i + 1..n {
                    s += managed[j];
                    res[i][j] = if clear || (empty_upper && managed[j] == 0) {
                        0
                    } else {
                        s / r
                    };
                }
            }
        }
        LowmemReserveForm::SkipEmpty => {
            for j in 0..n {
                let mut s = managed[j];
                for i in (0..j).rev() {
                    let r = ratio.get(i).copied().unwrap_or(0);
                    if r == 0 || managed[i] == 0 {
                        res[i][j] = 0;
                        continue;
                    }
                    res[i][j] = s / r;
                    s += managed[i];
                }
            }
        }
        LowmemReserveForm::RatioZero | LowmemReserveForm::Forced => {
            for j in 0..n {
                let mut s = managed[j];
                for i in (0..j).rev() {
                    let r = ratio.get(i).copied().unwrap_or(0);
                    res[i][j] = if form == LowmemReserveForm::RatioZero {
                        s.checked_div(r).unwrap_or(0)
                    } else {
                        s / r.max(1)
                    };
                    s += managed[i];
                }
            }
        }
    }
    res
}

/// `calculate_totalreserve_pages` (mm/page_alloc.c): per zone the largest `lowmem_reserve`
/// entry at or above its own index plus its high watermark, capped at its managed pages;
/// summed over all zones.
pub fn calculate_totalreserve_pages(
    zones: &[WmZone],
    wmarks: &[ZoneWatermarks],
    protection: &[Vec<u64>],
) -> u64 {
    let mut per_node_idx = 0usize;
    let mut prev_nid = None;
    let mut total = 0;
    for (k, z) in zones.iter().enumerate() {
        if prev_nid != Some(z.nid) {
            per_node_idx = 0;
            prev_nid = Some(z.nid);
        }
        let prot = protection.get(k).map(|v| v.as_slice()).unwrap_or(&[]);
        let max = prot.iter().skip(per_node_idx).copied().max().unwrap_or(0)
            + wmarks.get(k).map_or(0, |w| w.high);
        total += max.min(z.managed);
        per_node_idx += 1;
    }
    total
}

/// `fls` (1-based index of the highest set bit, 0 for 0).
pub fn fls(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// `calculate_normal_threshold` (mm/vmstat.c): the per-cpu vmstat drift allowed for a zone,
/// `2 * fls(online CPUs) * (1 + fls(managed / 128 MiB))`, at most 125 (present pages
/// before 3.8, which then held the managed estimate).
pub fn calculate_normal_threshold(managed: u64, online_cpus: u32) -> u32 {
    let mem = managed >> (27 - 12);
    let t = 2 * fls(online_cpus as u64) * (1 + fls(mem));
    t.min(125)
}

/// The per-cpu pageset sizes of one zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcpSizes {
    pub batch: u64,
    /// `pcp->high` before 6.7; from 6.7 the runtime value starts at 0 and moves within
    /// `[high_min, high_max]`, so this is `high_min`.
    pub high: u64,
    /// 6.7+: `high_min` and `high_max`.
    pub high_min: Option<u64>,
    pub high_max: Option<u64>,
}

/// `zone_highsize` (mm/page_alloc.c, 5.14+): the zone's share (`low` watermark, or `managed /
/// fraction`) divided between the CPUs of its node (plus one being onlined), at least 4 batches.
pub fn zone_highsize(
    managed: u64,
    low_wmark: u64,
    batch: u64,
    node_cpus: u32,
    cpu_online: u32,
    online_cpus: u32,
    high_fraction: u64,
) -> u64 {
    let total = managed.checked_div(high_fraction).unwrap_or(low_wmark);
    let mut nr = (node_cpus + cpu_online) as u64;
    if nr == 0 {
        nr = online_cpus.max(1) as u64;
    }
    (total / nr).max(batch << 2)
}

/// `zone_set_pageset_high_and_batch` (mm/page_alloc.c) with the default sysctls: before 5.14
/// `high = 6 * zone_batchsize`, `batch = max(1, zone_batchsize)`; 5.14–6.6 `high =
/// zone_highsize(fraction 0)`; 6.7+ `high_min` = that, `high_max` = `zone_highsize(fraction 8)`.
pub fn zone_set_pageset_high_and_batch(
    era: &Era,
    managed: u64,
    low_wmark: u64,
    node_cpus: u32,
    online_cpus: u32,
) -> PcpSizes {
    let zb = zone_batchsize(era, managed) as u64;
    let batch = zb.max(1);
    if !era.at_least(5, 14) {
        return PcpSizes {
            batch,
            high: 6 * zb,
            high_min: None,
            high_max: None,
        };
    }
    let high_min = zone_highsize(managed, low_wmark, batch, node_cpus, 0, online_cpus, 0);
    if !era.at_least(6, 7) {
        return PcpSizes {
            batch,
            high: high_min,
            high_min: None,
            high_max: None,
        };
    }
    let high_max = zone_highsize(
        managed,
        low_wmark,
        batch,
        node_cpus,
        0,
        online_cpus,
        MIN_PERCPU_PAGELIST_HIGH_FRACTION,
    );
    PcpSizes {
        batch,
        high: high_min,
        high_min: Some(high_min),
        high_max: Some(high_max),
    }
}

/// Everything /proc/zoneinfo shows that `init_per_zone_wmark_min` (and khugepaged) set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneTuning {
    pub min_free_kbytes: u64,
    pub wmarks: Vec<ZoneWatermarks>,
    /// `lowmem_reserve[]` of each zone (MAX_NR_ZONES entries).
    pub protection: Vec<Vec<u64>>,
    pub totalreserve_pages: u64,
    /// Lines printed on the way (the user-value warning, the THP raise).
    pub lines: Vec<String>,
}

/// What `hugepage_init` does at boot, for `min_free_kbytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpBoot {
    /// It never reaches khugepaged's code: THP is not built, or the machine has less than
    /// 512 MiB ([`THP_MIN_TOTALRAM_PAGES`]).
    Absent,
    /// THP is "never": from 5.16 `start_stop_khugepaged` still runs
    /// `set_recommended_min_free_kbytes`, which recomputes the square root from
    /// `nr_free_buffer_pages()` less the high watermarks just set ([`thp_off_recomputes`]).
    Off,
    /// khugepaged starts (THP "always" or "madvise") and raises `min_free_kbytes`.
    On,
}

/// bd3400ea173f "mm: khugepaged: recalculate min_free_kbytes after stopping khugepaged"
/// (5.16): with THP off, `set_recommended_min_free_kbytes` runs `calculate_min_free_kbytes`
/// and `setup_per_zone_wmarks` again at boot.
pub fn thp_off_recomputes(era: &Era) -> bool {
    era.at_least(5, 16)
}

/// How `min_free_kbytes` is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinFreeParams {
    /// `min_free_kbytes=` / the sysctl before the watermark initcall, if any.
    pub user_min_free_kbytes: Option<u64>,
    /// What khugepaged's start does.
    pub thp: ThpBoot,
    pub watermark_scale_factor: u64,
}

impl Default for MinFreeParams {
    fn default() -> Self {
        MinFreeParams {
            user_min_free_kbytes: None,
            thp: ThpBoot::Absent,
            watermark_scale_factor: DEFAULT_WATERMARK_SCALE_FACTOR,
        }
    }
}

/// Group `zones` by node: `(start index, count)` per node, in order.
pub fn node_spans(zones: &[WmZone]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, z) in zones.iter().enumerate() {
        match out.last_mut() {
            Some((s, n)) if zones[*s].nid == z.nid => *n += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

/// The protection arrays of every zone, per node (`setup_per_zone_lowmem_reserve`).
pub fn protection_all(era: &Era, zones: &[WmZone]) -> Vec<Vec<u64>> {
    let mut out = Vec::with_capacity(zones.len());
    for (s, n) in node_spans(zones) {
        let types: Vec<ZoneType> = zones[s..s + n].iter().map(|z| z.zone_type).collect();
        let managed: Vec<u64> = zones[s..s + n].iter().map(|z| z.managed).collect();
        let ratio = lowmem_reserve_ratio(era, &types);
        out.extend(setup_per_zone_lowmem_reserve(era, &managed, &ratio));
    }
    out
}

/// `init_per_zone_wmark_min` (mm/page_alloc.c) followed, when khugepaged runs, by
/// `set_recommended_min_free_kbytes`, over one managed-pages snapshot: the values
/// /proc/zoneinfo shows for min/low/high/promo and protection when nothing changed later.
pub fn init_per_zone_wmark_min(era: &Era, zones: &[WmZone], p: &MinFreeParams) -> ZoneTuning {
    let mut lines = Vec::new();
    let zero = alloc::vec![0u64; zones.len()];
    let m = calculate_min_free_kbytes(
        era,
        nr_free_buffer_pages(zones, &zero),
        p.user_min_free_kbytes,
    );
    if let Some(w) = m.warning {
        lines.push(w);
    }
    let mut mfk = m.min_free_kbytes;
    let mut wmarks = __setup_per_zone_wmarks(era, zones, mfk, p.watermark_scale_factor);
    let protection = protection_all(era, zones);
    if p.thp == ThpBoot::Off && thp_off_recomputes(era) {
        let high: Vec<u64> = wmarks.iter().map(|w| w.high).collect();
        let again = calculate_min_free_kbytes(
            era,
            nr_free_buffer_pages(zones, &high),
            p.user_min_free_kbytes,
        );
        if let Some(w) = again.warning {
            lines.push(w);
        }
        mfk = again.min_free_kbytes;
        wmarks = __setup_per_zone_wmarks(era, zones, mfk, p.watermark_scale_factor);
    }
    if p.thp == ThpBoot::On && thp_raise_survives_boot(era) {
        let high: Vec<u64> = wmarks.iter().map(|w| w.high).collect();
        let r = set_recommended_min_free_kbytes(
            era,
            zones,
            &high,
            mfk,
            p.user_min_free_kbytes.is_some(),
        );
        if let Some(l) = r.line {
            lines.push(l);
        }
        mfk = r.min_free_kbytes;
        wmarks = __setup_per_zone_wmarks(era, zones, mfk, p.watermark_scale_factor);
    }
    let totalreserve_pages = calculate_totalreserve_pages(zones, &wmarks, &protection);
    ZoneTuning {
        min_free_kbytes: mfk,
        wmarks,
        protection,
        totalreserve_pages,
        lines,
    }
}

#[cfg(test)]
mod tests;
