// SPDX-License-Identifier: GPL-2.0-only
//! `include/linux/gfp.h`, `gfp_types.h`, `include/trace/events/mmflags.h`: GFP masks, the
//! zone and migrate type an allocation asks for, and how `%pGg` names a mask.
//!
//! A GFP ("get free pages") mask tells the page allocator which zones it may use
//! (`__GFP_DMA`, `__GFP_DMA32`, `__GFP_HIGHMEM`, `__GFP_MOVABLE`), which pageblocks it
//! should come from (`__GFP_MOVABLE`, `__GFP_RECLAIMABLE`), how hard to try and what to do
//! with the page. The bit values moved several times (3.x `__GFP_WAIT`, 4.4 the reclaim
//! split, 4.18 and 4.20 renumbering, 6.3 dropped `__GFP_ATOMIC`). bootmm keeps one canonical
//! [`Gfp`] set (the 4.20–6.2 bit values) and converts to and from the modelled era's numbers
//! with [`gfp_to_raw`] / [`gfp_from_raw`], so printed masks are the era's.

use alloc::string::String;

use crate::era::Era;
use crate::mm::mm_init::ZoneType;

bitflags::bitflags! {
    /// `gfp_t` in bootmm's canonical layout: the 4.20–6.2 `___GFP_*` values. Flags that an
    /// era lacks are dropped when converted to its numbers ([`gfp_to_raw`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Gfp: u32 {
        const __GFP_DMA = 0x01;
        const __GFP_HIGHMEM = 0x02;
        const __GFP_DMA32 = 0x04;
        const __GFP_MOVABLE = 0x08;
        const __GFP_RECLAIMABLE = 0x10;
        const __GFP_HIGH = 0x20;
        const __GFP_IO = 0x40;
        const __GFP_FS = 0x80;
        const __GFP_ZERO = 0x100;
        /// 4.4–6.2 only (3.x derived atomicity from `!__GFP_WAIT`; 6.3 removed it).
        const __GFP_ATOMIC = 0x200;
        const __GFP_DIRECT_RECLAIM = 0x400;
        const __GFP_KSWAPD_RECLAIM = 0x800;
        const __GFP_WRITE = 0x1000;
        const __GFP_NOWARN = 0x2000;
        /// `__GFP_REPEAT` before 4.13.
        const __GFP_RETRY_MAYFAIL = 0x4000;
        const __GFP_NOFAIL = 0x8000;
        const __GFP_NORETRY = 0x10000;
        const __GFP_MEMALLOC = 0x20000;
        const __GFP_COMP = 0x40000;
        const __GFP_NOMEMALLOC = 0x80000;
        const __GFP_HARDWALL = 0x100000;
        const __GFP_THISNODE = 0x200000;
        const __GFP_ACCOUNT = 0x400000;
        const __GFP_ZEROTAGS = 0x800000;
    }
}

impl Gfp {
    /// `__GFP_RECLAIM`.
    pub const __GFP_RECLAIM: Gfp = Gfp::__GFP_DIRECT_RECLAIM.union(Gfp::__GFP_KSWAPD_RECLAIM);
    /// `GFP_ZONEMASK`.
    pub const GFP_ZONEMASK: Gfp = Gfp::__GFP_DMA
        .union(Gfp::__GFP_HIGHMEM)
        .union(Gfp::__GFP_DMA32)
        .union(Gfp::__GFP_MOVABLE);
    /// `GFP_MOVABLE_MASK`.
    pub const GFP_MOVABLE_MASK: Gfp = Gfp::__GFP_RECLAIMABLE.union(Gfp::__GFP_MOVABLE);
    /// mm/internal.h `GFP_RECLAIM_MASK`: the bits that control reclaim, which the slab
    /// allocator passes through to the page allocator.
    pub const GFP_RECLAIM_MASK: Gfp = Gfp::__GFP_RECLAIM
        .union(Gfp::__GFP_HIGH)
        .union(Gfp::__GFP_IO)
        .union(Gfp::__GFP_FS)
        .union(Gfp::__GFP_NOWARN)
        .union(Gfp::__GFP_RETRY_MAYFAIL)
        .union(Gfp::__GFP_NOFAIL)
        .union(Gfp::__GFP_NORETRY)
        .union(Gfp::__GFP_MEMALLOC)
        .union(Gfp::__GFP_NOMEMALLOC)
        .union(Gfp::__GFP_ATOMIC);
    /// mm/internal.h `GFP_CONSTRAINT_MASK`.
    pub const GFP_CONSTRAINT_MASK: Gfp = Gfp::__GFP_HARDWALL.union(Gfp::__GFP_THISNODE);
}

/// The GFP bit layouts the kernel has used on x86.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GfpLayout {
    /// 3.x – 4.3: `__GFP_WAIT`, `__GFP_NO_KSWAPD`, `__GFP_RECLAIMABLE` at 0x80000.
    V3,
    /// 4.4 – 4.10: `__GFP_DIRECT_RECLAIM` 0x400000, `__GFP_OTHER_NODE` 0x800000,
    /// `__GFP_WRITE` 0x1000000, `__GFP_KSWAPD_RECLAIM` 0x2000000.
    V4_4,
    /// 4.11 – 4.17 (`__GFP_OTHER_NODE` gone; believed 4.11): `__GFP_WRITE` 0x800000,
    /// `__GFP_KSWAPD_RECLAIM` 0x1000000.
    V4_11,
    /// 4.18 – 4.19 ("slide gfp masks"): `__GFP_WRITE` 0x100, `__GFP_DIRECT_RECLAIM`
    /// 0x200000, `__GFP_KSWAPD_RECLAIM` 0x400000.
    V4_18,
    /// 4.20+ (GFP flags shuffled so GFP_KERNEL | __GFP_ZERO are close): the canonical
    /// values; 6.3 leaves 0x200 unused.
    V4_20,
}

impl GfpLayout {
    pub fn of(era: &Era) -> Self {
        if era.at_least(4, 20) {
            GfpLayout::V4_20
        } else if era.at_least(4, 18) {
            GfpLayout::V4_18
        } else if era.at_least(4, 11) {
            GfpLayout::V4_11
        } else if era.at_least(4, 4) {
            GfpLayout::V4_4
        } else {
            GfpLayout::V3
        }
    }
}

/// The flag renames and removals that are not bit moves ([`GfpLayout`]), each decided once
/// from the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GfpRules {
    /// 6.3+: `__GFP_ATOMIC` is gone (believed "mm: discard __GFP_ATOMIC"): its bit is
    /// unused, GFP_ATOMIC is `__GFP_HIGH | __GFP_KSWAPD_RECLAIM`, and `%pGg` has no name
    /// for it.
    pub no_atomic: bool,
    /// 4.13+: `__GFP_RETRY_MAYFAIL` replaces `__GFP_REPEAT` on the same bit (believed "mm,
    /// tree wide: replace __GFP_REPEAT by __GFP_RETRY_MAYFAIL with more useful semantic").
    pub retry_mayfail: bool,
}

impl GfpRules {
    pub fn new(era: &Era) -> Self {
        GfpRules {
            no_atomic: era.at_least(6, 3),
            retry_mayfail: era.at_least(4, 13),
        }
    }
}

/// 3.x names: `__GFP_WAIT` and `__GFP_NO_KSWAPD`.
const V3_WAIT: u32 = 0x10;
const V3_NO_KSWAPD: u32 = 0x400000;

/// The era's raw value of each canonical flag (0: the era has no such flag).
fn raw_bit(layout: GfpLayout, f: Gfp) -> u32 {
    use GfpLayout::*;
    // Bits that are the same everywhere.
    let same = Gfp::__GFP_DMA
        | Gfp::__GFP_HIGHMEM
        | Gfp::__GFP_DMA32
        | Gfp::__GFP_MOVABLE
        | Gfp::__GFP_HIGH
        | Gfp::__GFP_IO
        | Gfp::__GFP_FS;
    if same.contains(f) {
        return f.bits();
    }
    if layout == V4_20 {
        return f.bits();
    }
    // 3.x – 4.19 share the middle run of the old layout.
    let old = match f {
        Gfp::__GFP_NOWARN => 0x200,
        Gfp::__GFP_RETRY_MAYFAIL => 0x400,
        Gfp::__GFP_NOFAIL => 0x800,
        Gfp::__GFP_NORETRY => 0x1000,
        Gfp::__GFP_MEMALLOC => 0x2000,
        Gfp::__GFP_COMP => 0x4000,
        Gfp::__GFP_ZERO => 0x8000,
        Gfp::__GFP_NOMEMALLOC => 0x10000,
        Gfp::__GFP_HARDWALL => 0x20000,
        Gfp::__GFP_THISNODE => 0x40000,
        _ => 0,
    };
    if old != 0 {
        return old;
    }
    match (layout, f) {
        (V3, Gfp::__GFP_RECLAIMABLE) => 0x80000,
        (V3, Gfp::__GFP_WRITE) => 0x1000000,
        (V3, _) => 0,
        (_, Gfp::__GFP_RECLAIMABLE) => 0x10,
        (_, Gfp::__GFP_ATOMIC) => 0x80000,
        (_, Gfp::__GFP_ACCOUNT) => 0x100000,
        (V4_4, Gfp::__GFP_DIRECT_RECLAIM) => 0x400000,
        (V4_4, Gfp::__GFP_WRITE) => 0x1000000,
        (V4_4, Gfp::__GFP_KSWAPD_RECLAIM) => 0x2000000,
        (V4_11, Gfp::__GFP_DIRECT_RECLAIM) => 0x400000,
        (V4_11, Gfp::__GFP_WRITE) => 0x800000,
        (V4_11, Gfp::__GFP_KSWAPD_RECLAIM) => 0x1000000,
        (V4_18, Gfp::__GFP_WRITE) => 0x100,
        (V4_18, Gfp::__GFP_DIRECT_RECLAIM) => 0x200000,
        (V4_18, Gfp::__GFP_KSWAPD_RECLAIM) => 0x400000,
        _ => 0,
    }
}

/// The era's `gfp_t` value of a mask (what `mode:%#x` prints).
pub fn gfp_to_raw(era: &Era, gfp: Gfp) -> u32 {
    let layout = GfpLayout::of(era);
    let mut raw = 0;
    for f in gfp.iter() {
        raw |= raw_bit(layout, f);
    }
    if layout == GfpLayout::V3 {
        // 3.x: direct reclaim is __GFP_WAIT; waking kswapd is the default unless
        // __GFP_NO_KSWAPD says otherwise (only meaningful for sleeping allocations).
        if gfp.contains(Gfp::__GFP_DIRECT_RECLAIM) {
            raw |= V3_WAIT;
            if !gfp.contains(Gfp::__GFP_KSWAPD_RECLAIM) {
                raw |= V3_NO_KSWAPD;
            }
        }
    }
    if GfpRules::new(era).no_atomic {
        raw &= !Gfp::__GFP_ATOMIC.bits();
    }
    raw
}

/// The canonical mask of an era's `gfp_t` value; `None` if it has bits the era does not
/// define.
pub fn gfp_from_raw(era: &Era, raw: u32) -> Option<Gfp> {
    let layout = GfpLayout::of(era);
    let mut gfp = Gfp::empty();
    let mut left = raw;
    for f in Gfp::all().iter() {
        let b = raw_bit(layout, f);
        if b != 0 && raw & b == b {
            gfp |= f;
            left &= !b;
        }
    }
    if layout == GfpLayout::V3 {
        let wait = raw & V3_WAIT != 0;
        let no_kswapd = raw & V3_NO_KSWAPD != 0;
        left &= !(V3_WAIT | V3_NO_KSWAPD);
        if wait {
            gfp |= Gfp::__GFP_DIRECT_RECLAIM;
        }
        if !no_kswapd {
            gfp |= Gfp::__GFP_KSWAPD_RECLAIM;
        }
        // 3.x: an allocation is atomic when it may neither sleep nor skip kswapd.
        if !wait && !no_kswapd {
            gfp |= Gfp::__GFP_ATOMIC;
        }
    }
    if GfpRules::new(era).no_atomic && raw & Gfp::__GFP_ATOMIC.bits() != 0 {
        return None;
    }
    (left == 0).then_some(gfp)
}

/// The composite masks of include/linux/gfp_types.h (gfp.h before 6.0) for `era`, in
/// canonical bits.
pub fn gfp_constant(era: &Era, name: &str) -> Option<Gfp> {
    let rules = GfpRules::new(era);
    let reclaim = Gfp::__GFP_RECLAIM;
    // GFP_ATOMIC: 3.x __GFP_HIGH (atomic = no __GFP_WAIT); 4.4–6.2 adds __GFP_ATOMIC.
    let atomic = if rules.no_atomic {
        Gfp::__GFP_HIGH | Gfp::__GFP_KSWAPD_RECLAIM
    } else {
        Gfp::__GFP_HIGH | Gfp::__GFP_ATOMIC | Gfp::__GFP_KSWAPD_RECLAIM
    };
    let kernel = reclaim | Gfp::__GFP_IO | Gfp::__GFP_FS;
    let user = kernel | Gfp::__GFP_HARDWALL;
    let highuser_movable = user | Gfp::__GFP_HIGHMEM | Gfp::__GFP_MOVABLE;
    let transhuge_light =
        (highuser_movable | Gfp::__GFP_COMP | Gfp::__GFP_NOMEMALLOC | Gfp::__GFP_NOWARN)
            .difference(reclaim);
    Some(match name {
        "GFP_ATOMIC" => atomic,
        "GFP_KERNEL" => kernel,
        "GFP_KERNEL_ACCOUNT" => kernel | Gfp::__GFP_ACCOUNT,
        // 3.x: GFP_ATOMIC & ~__GFP_HIGH, which still wakes kswapd.
        "GFP_NOWAIT" => Gfp::__GFP_KSWAPD_RECLAIM,
        "GFP_NOIO" => reclaim,
        "GFP_NOFS" => reclaim | Gfp::__GFP_IO,
        "GFP_USER" => user,
        "GFP_DMA" => Gfp::__GFP_DMA,
        "GFP_DMA32" => Gfp::__GFP_DMA32,
        "GFP_HIGHUSER" => user | Gfp::__GFP_HIGHMEM,
        "GFP_HIGHUSER_MOVABLE" => highuser_movable,
        "GFP_TRANSHUGE_LIGHT" => transhuge_light,
        "GFP_TRANSHUGE" => transhuge_light | Gfp::__GFP_DIRECT_RECLAIM,
        "__GFP_RECLAIM" => reclaim,
        "__GFP_ATOMIC" if !rules.no_atomic => Gfp::__GFP_ATOMIC,
        "__GFP_ATOMIC" => return None,
        "__GFP_REPEAT" if !rules.retry_mayfail => Gfp::__GFP_RETRY_MAYFAIL,
        "__GFP_RETRY_MAYFAIL" if !rules.retry_mayfail => return None,
        "__GFP_WAIT" if GfpLayout::of(era) == GfpLayout::V3 => Gfp::__GFP_DIRECT_RECLAIM,
        "__GFP_ACCOUNT" if !era.at_least(4, 5) => return None,
        "__GFP_ZEROTAGS" if !era.at_least(5, 12) => return None,
        n => {
            let f = Gfp::from_name(n)?;
            if raw_bit(GfpLayout::of(era), f) == 0
                && !(GfpLayout::of(era) == GfpLayout::V3
                    && (f == Gfp::__GFP_DIRECT_RECLAIM || f == Gfp::__GFP_KSWAPD_RECLAIM))
            {
                return None;
            }
            f
        }
    })
}

/// `gfpflag_names` (include/trace/events/mmflags.h) as `%pGg` walks it: composite names
/// first, a name is printed when all its bits are set, and its bits are then cleared.
fn gfpflag_names(era: &Era) -> alloc::vec::Vec<(&'static str, Gfp)> {
    let rules = GfpRules::new(era);
    let c = |n: &'static str| (n, gfp_constant(era, n).unwrap_or(Gfp::empty()));
    let mut v = alloc::vec![
        c("GFP_TRANSHUGE"),
        c("GFP_TRANSHUGE_LIGHT"),
        c("GFP_HIGHUSER_MOVABLE"),
        c("GFP_HIGHUSER"),
        c("GFP_USER"),
        c("GFP_KERNEL_ACCOUNT"),
        c("GFP_KERNEL"),
        c("GFP_NOFS"),
        c("GFP_ATOMIC"),
        c("GFP_NOIO"),
        c("GFP_NOWAIT"),
        c("GFP_DMA"),
        ("__GFP_HIGHMEM", Gfp::__GFP_HIGHMEM),
        c("GFP_DMA32"),
        ("__GFP_HIGH", Gfp::__GFP_HIGH),
    ];
    if !rules.no_atomic {
        v.push(("__GFP_ATOMIC", Gfp::__GFP_ATOMIC));
    }
    v.extend([
        ("__GFP_IO", Gfp::__GFP_IO),
        ("__GFP_FS", Gfp::__GFP_FS),
        ("__GFP_NOWARN", Gfp::__GFP_NOWARN),
        (
            if rules.retry_mayfail {
                "__GFP_RETRY_MAYFAIL"
            } else {
                "__GFP_REPEAT"
            },
            Gfp::__GFP_RETRY_MAYFAIL,
        ),
        ("__GFP_NOFAIL", Gfp::__GFP_NOFAIL),
        ("__GFP_NORETRY", Gfp::__GFP_NORETRY),
        ("__GFP_COMP", Gfp::__GFP_COMP),
        ("__GFP_ZERO", Gfp::__GFP_ZERO),
        ("__GFP_NOMEMALLOC", Gfp::__GFP_NOMEMALLOC),
        ("__GFP_MEMALLOC", Gfp::__GFP_MEMALLOC),
        ("__GFP_HARDWALL", Gfp::__GFP_HARDWALL),
        ("__GFP_THISNODE", Gfp::__GFP_THISNODE),
        ("__GFP_RECLAIMABLE", Gfp::__GFP_RECLAIMABLE),
        ("__GFP_MOVABLE", Gfp::__GFP_MOVABLE),
        ("__GFP_ACCOUNT", Gfp::__GFP_ACCOUNT),
        ("__GFP_WRITE", Gfp::__GFP_WRITE),
        ("__GFP_RECLAIM", Gfp::__GFP_RECLAIM),
        ("__GFP_DIRECT_RECLAIM", Gfp::__GFP_DIRECT_RECLAIM),
        ("__GFP_KSWAPD_RECLAIM", Gfp::__GFP_KSWAPD_RECLAIM),
        ("__GFP_ZEROTAGS", Gfp::__GFP_ZEROTAGS),
    ]);
    v.retain(|(_, m)| !m.is_empty());
    v
}

/// lib/vsprintf.c: `%pGg` (4.5+): the mask as `gfpflag_names` spell it, `|`-separated,
/// with any bits no name covers appended as `%#lx`.
pub fn format_gfp(era: &Era, gfp: Gfp) -> String {
    let mut out = String::new();
    let mut left = gfp;
    for (name, mask) in gfpflag_names(era) {
        if left.is_empty() {
            break;
        }
        if !left.contains(mask) {
            continue;
        }
        out.push_str(name);
        left.remove(mask);
        if !left.is_empty() {
            out.push('|');
        }
    }
    if !left.is_empty() {
        out.push_str(&alloc::format!("{:#x}", gfp_to_raw(era, left)));
    }
    out
}

/// Which zones a kernel build has (OPT_ZONE_DMA, OPT_ZONE_DMA32, OPT_ZONE_HIGHMEM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZonesConfigured {
    pub dma: bool,
    pub dma32: bool,
    pub highmem: bool,
}

/// `GFP_ZONES_SHIFT`: bits per `GFP_ZONE_TABLE` entry. The kernel uses `ZONES_SHIFT` (2 on
/// most x86_64 builds); bootmm takes 3 so that any build's zone numbers fit.
pub const GFP_ZONES_SHIFT: u32 = 3;

/// include/linux/gfp.h: `GFP_ZONE_BAD`: one bit per zone-modifier combination that makes
/// no sense (DMA with DMA32, anything with HIGHMEM but MOVABLE alone, …).
pub const GFP_ZONE_BAD: u16 =
    1 << 0x3 | 1 << 0x5 | 1 << 0x6 | 1 << 0x7 | 1 << 0xb | 1 << 0xd | 1 << 0xe | 1 << 0xf;

/// include/linux/gfp.h: `GFP_ZONE_TABLE`: for each of the 16 combinations of the zone
/// modifiers, the number of the highest zone an allocation may use, `GFP_ZONES_SHIFT` bits
/// apiece. The numbers are the build's (`zone_num` of a zone type); an `OPT_ZONE_*` the
/// build lacks is ZONE_NORMAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GfpZoneTable(u64);

impl GfpZoneTable {
    pub fn new(cfg: ZonesConfigured, zone_num: impl Fn(ZoneType) -> u64) -> Self {
        let opt = |on: bool, z: ZoneType| zone_num(if on { z } else { ZoneType::Normal });
        let (normal, movable) = (zone_num(ZoneType::Normal), zone_num(ZoneType::Movable));
        let (dma, dma32) = (opt(cfg.dma, ZoneType::Dma), opt(cfg.dma32, ZoneType::Dma32));
        let highmem = opt(cfg.highmem, ZoneType::HighMem);
        let entry = |bit: u32, z: u64| z << (bit * GFP_ZONES_SHIFT);
        GfpZoneTable(
            entry(0, normal)
                | entry(0x1, dma)
                | entry(0x2, highmem)
                | entry(0x4, dma32)
                | entry(0x8, normal)
                | entry(0x8 | 0x1, dma)
                | entry(0x8 | 0x2, movable)
                | entry(0x8 | 0x4, dma32),
        )
    }

    /// The zone a mask without zone modifiers gets: ZONE_NORMAL's number in this build.
    #[inline]
    pub fn normal(self) -> Option<usize> {
        self.gfp_zone(Gfp::empty()).map(|z| z as usize)
    }

    /// `gfp_zone` as the kernel computes it: a shift and a mask, and `VM_BUG_ON(GFP_ZONE_BAD
    /// >> bit & 1)` as `None`.
    #[inline]
    pub fn gfp_zone(self, gfp: Gfp) -> Option<u64> {
        let bit = (gfp & Gfp::GFP_ZONEMASK).bits();
        if (GFP_ZONE_BAD >> bit) & 1 != 0 {
            return None;
        }
        Some((self.0 >> (bit * GFP_ZONES_SHIFT)) & ((1 << GFP_ZONES_SHIFT) - 1))
    }
}

/// include/linux/gfp.h: `gfp_zone`: the highest zone the mask may use (a `GFP_ZONE_TABLE`
/// look-up), `None` for the combinations `GFP_ZONE_BAD` lists (the kernel's `VM_BUG_ON`).
pub fn gfp_zone(gfp: Gfp, cfg: ZonesConfigured) -> Option<ZoneType> {
    let table = GfpZoneTable::new(cfg, |z| z as u64);
    table.gfp_zone(gfp).map(|z| ZoneType::ALL[z as usize])
}

/// include/linux/gfp.h: `gfp_migratetype` (4.4+; `gfpflags_to_migratetype` and 3.x
/// `allocflags_to_migratetype`): the migrate type index in `era`'s order. With mobility
/// grouping disabled every allocation is UNMOVABLE.
pub fn gfp_migratetype(era: &Era, gfp: Gfp, mobility_disabled: bool) -> usize {
    if mobility_disabled {
        return 0;
    }
    let movable = gfp.contains(Gfp::__GFP_MOVABLE) as usize;
    let reclaimable = gfp.contains(Gfp::__GFP_RECLAIMABLE) as usize;
    if era.at_least(4, 4) {
        // (gfp & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT: MOVABLE 1, RECLAIMABLE 2.
        movable | (reclaimable << 1)
    } else {
        // MOVABLE 2, RECLAIMABLE 1.
        (movable << 1) | reclaimable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};

    fn era(a: u32, b: u32) -> Era {
        Era::new(KernelVersion::new(a, b, 0), Arch::X86_64)
    }

    #[test]
    fn raw_values_per_era() {
        let k = |e: &Era| gfp_to_raw(e, gfp_constant(e, "GFP_KERNEL").unwrap());
        assert_eq!(k(&era(3, 18)), 0xd0);
        assert_eq!(k(&era(4, 4)), 0x24000c0);
        assert_eq!(k(&era(4, 14)), 0x14000c0);
        assert_eq!(k(&era(4, 18)), 0x6000c0);
        assert_eq!(k(&era(5, 4)), 0xcc0);
        assert_eq!(k(&era(6, 18)), 0xcc0);
        let hm = |e: &Era| gfp_to_raw(e, gfp_constant(e, "GFP_HIGHUSER_MOVABLE").unwrap());
        assert_eq!(hm(&era(4, 19)), 0x6200ca);
        assert_eq!(hm(&era(5, 10)), 0x100cca);
        assert_eq!(hm(&era(3, 18)), 0x200da);
        let at = |e: &Era| gfp_to_raw(e, gfp_constant(e, "GFP_ATOMIC").unwrap());
        assert_eq!(at(&era(3, 18)), 0x20);
        assert_eq!(at(&era(5, 4)), 0xa20);
        assert_eq!(at(&era(6, 6)), 0x820);
        for e in [
            era(3, 18),
            era(4, 4),
            era(4, 14),
            era(4, 18),
            era(6, 1),
            era(6, 18),
        ] {
            for n in [
                "GFP_KERNEL",
                "GFP_ATOMIC",
                "GFP_USER",
                "GFP_HIGHUSER_MOVABLE",
            ] {
                let g = gfp_constant(&e, n).unwrap() | Gfp::__GFP_ZERO | Gfp::__GFP_NOWARN;
                assert_eq!(gfp_from_raw(&e, gfp_to_raw(&e, g)), Some(g), "{n} {e:?}");
            }
        }
    }

    #[test]
    fn pgg_names() {
        let e = era(6, 6);
        let g = gfp_constant(&e, "GFP_KERNEL").unwrap() | Gfp::__GFP_ZERO;
        assert_eq!(format_gfp(&e, g), "GFP_KERNEL|__GFP_ZERO");
        let g = gfp_constant(&e, "GFP_HIGHUSER_MOVABLE").unwrap();
        assert_eq!(format_gfp(&e, g), "GFP_HIGHUSER_MOVABLE");
        assert_eq!(
            format_gfp(
                &e,
                gfp_constant(&e, "GFP_ATOMIC").unwrap() | Gfp::__GFP_NOWARN
            ),
            "GFP_ATOMIC|__GFP_NOWARN"
        );
        assert_eq!(format_gfp(&e, Gfp::empty()), "");
    }

    #[test]
    fn zone_table() {
        let all = ZonesConfigured {
            dma: true,
            dma32: true,
            highmem: false,
        };
        assert_eq!(gfp_zone(Gfp::empty(), all), Some(ZoneType::Normal));
        assert_eq!(gfp_zone(Gfp::__GFP_DMA, all), Some(ZoneType::Dma));
        assert_eq!(gfp_zone(Gfp::__GFP_DMA32, all), Some(ZoneType::Dma32));
        assert_eq!(gfp_zone(Gfp::__GFP_MOVABLE, all), Some(ZoneType::Normal));
        let e = era(6, 6);
        let hm = gfp_constant(&e, "GFP_HIGHUSER_MOVABLE").unwrap();
        assert_eq!(gfp_zone(hm, all), Some(ZoneType::Movable));
        assert_eq!(gfp_zone(Gfp::__GFP_HIGHMEM, all), Some(ZoneType::Normal));
        assert_eq!(gfp_zone(Gfp::__GFP_DMA | Gfp::__GFP_DMA32, all), None);
        let no_dma = ZonesConfigured { dma: false, ..all };
        assert_eq!(gfp_zone(Gfp::__GFP_DMA, no_dma), Some(ZoneType::Normal));
    }

    #[test]
    fn zone_table_matches_the_modifier_rules() {
        // gfp.h's table, written out case by case.
        fn by_cases(bits: u32, cfg: ZonesConfigured) -> Option<ZoneType> {
            let opt = |on: bool, z: ZoneType| if on { z } else { ZoneType::Normal };
            Some(match bits {
                0x0 | 0x8 => ZoneType::Normal,
                0x1 | 0x9 => opt(cfg.dma, ZoneType::Dma),
                0x2 => opt(cfg.highmem, ZoneType::HighMem),
                0x4 | 0xc => opt(cfg.dma32, ZoneType::Dma32),
                0xa => ZoneType::Movable,
                _ => return None,
            })
        }
        for c in 0..8 {
            let cfg = ZonesConfigured {
                dma: c & 1 != 0,
                dma32: c & 2 != 0,
                highmem: c & 4 != 0,
            };
            for bits in 0..16 {
                let g = Gfp::from_bits_truncate(bits) | Gfp::__GFP_IO;
                assert_eq!(gfp_zone(g, cfg), by_cases(bits, cfg), "{bits:#x} {cfg:?}");
            }
        }
    }

    #[test]
    fn migratetype_per_era() {
        let m = Gfp::__GFP_MOVABLE;
        let r = Gfp::__GFP_RECLAIMABLE;
        assert_eq!(gfp_migratetype(&era(6, 6), m, false), 1);
        assert_eq!(gfp_migratetype(&era(6, 6), r, false), 2);
        assert_eq!(gfp_migratetype(&era(3, 18), m, false), 2);
        assert_eq!(gfp_migratetype(&era(3, 18), r, false), 1);
        assert_eq!(gfp_migratetype(&era(6, 6), m, true), 0);
        assert_eq!(gfp_migratetype(&era(6, 6), Gfp::empty(), false), 0);
    }
}
