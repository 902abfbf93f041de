// SPDX-License-Identifier: GPL-2.0-only
//! mm/slub.c: the geometry of a slab cache (the part of `kmem_cache_open` that
//! `calculate_sizes` and `calculate_order` decide), and the kmalloc caches'.
//!
//! DOC: a SLUB cache packs objects of `s->size` bytes into slabs of `PAGE_SIZE << order`.
//! `calculate_order` picks the smallest order whose slab holds at least `min_objects`
//! objects (`4 * (fls(nr_cpus) + 1)` unless `slub_min_objects=` is given, capped by what
//! the largest order holds) while wasting no more than a fraction of the slab. Until 6.7 it
//! first relaxes the fraction from 1/16 to 1/4, then lowers `min_objects` one at a time.
//! From 6.8 it keeps `min_objects` and relaxes the fraction down to 1/2. `oo` encodes the
//! order and object count that `/proc/slabinfo` prints as `<pagesperslab>` and
//! `<objperslab>`.
//!
//! The allocator itself is in [`alloc`] (the caches, the per-CPU and per-node state, the
//! paths), its debug side in [`debug`], and what all slab allocators share (kmalloc,
//! `kmem_cache_create`, /proc/slabinfo) in [`crate::mm::slab_common`].

pub mod alloc;
pub mod debug;

use ::alloc::string::String;
use ::alloc::vec::Vec;

use crate::era::Era;

/// `PAGE_SIZE`.
const PAGE_SIZE: u32 = 4096;
/// `MAX_OBJS_PER_PAGE` (the width of `slab->objects`).
const MAX_OBJS_PER_PAGE: u32 = 32767;
/// `slub_max_order`'s default: PAGE_ALLOC_COSTLY_ORDER.
pub const SLUB_MAX_ORDER: u32 = 3;

/// The boot options `calculate_order` reads: `slub_min_order=`, `slub_max_order=`,
/// `slub_min_objects=` (0: from the CPU count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlubParams {
    pub min_order: u32,
    pub max_order: u32,
    pub min_objects: u32,
}

impl Default for SlubParams {
    fn default() -> Self {
        SlubParams {
            min_order: 0,
            max_order: SLUB_MAX_ORDER,
            min_objects: 0,
        }
    }
}

/// The order rules of one release, decided once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlubRules {
    /// Vlastimil Babka's "mm/slub: attempt to find layouts up to 1/2 waste in
    /// calculate_order()" and "remove min_objects loop from calculate_order()" (6.8): no
    /// lowering of `min_objects`, fractions down to 1/2.
    pub fraction_only: bool,
    /// "mm, slab: shorten kmalloc cache names for large sizes" (4.20, Vlastimil Babka; id
    /// unconfirmed): "kmalloc-1k" instead of "kmalloc-1024".
    pub short_names: bool,
    /// Vlastimil Babka's "mm/slub: delay slab freezing" series (6.8): only the CPU slab is
    /// frozen; slabs on the node partial lists carry PG_workingset, and CPU-partial slabs
    /// are neither (`freeze_slab`, `__put_partials`, `slab_test_node_partial`).
    pub unfrozen_partials: bool,
    /// `get_partial` searches other nodes for a request of a given node unless it has
    /// __GFP_THISNODE (seen in the 6.12 tree; 6.6 returns whatever that node had; the release
    /// between is unconfirmed).
    pub any_partial_for_node: bool,
}

impl SlubRules {
    pub fn new(era: &Era) -> Self {
        SlubRules {
            fraction_only: era.at_least(6, 8),
            short_names: era.at_least(4, 20),
            unfrozen_partials: era.at_least(6, 8),
            any_partial_for_node: era.at_least(6, 12),
        }
    }
}

/// `slab_state` (mm/slab.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlabState {
    /// No slab functionality yet.
    Down = 0,
    /// SLUB: the kmem_cache_node cache works.
    Partial = 1,
    /// Slab caches usable (kmalloc works).
    Up = 3,
    /// Everything, sysfs included (a late initcall).
    Full = 4,
}

impl SlabState {
    pub(crate) fn from_u8(v: u8) -> SlabState {
        match v {
            0 => SlabState::Down,
            1 | 2 => SlabState::Partial,
            3 => SlabState::Up,
            _ => SlabState::Full,
        }
    }
}

impl SlubParams {
    /// `slub_min_order=`, `slub_max_order=`, `slub_min_objects=` (6.x also spells them
    /// `slab_*`; the last one given wins). `slub_max_order` is clamped to MAX_PAGE_ORDER and
    /// `slub_min_order` to it, as `setup_slub_max_order` / `setup_slub_min_order` do.
    pub fn from_cmdline(cmdline: &str) -> SlubParams {
        let mut p = SlubParams::default();
        let get = |name: &str| -> Option<u32> {
            crate::klib::cmdline::early_param_values(cmdline, name)
                .last()
                .copied()
                .flatten()
                .and_then(|v| v.parse().ok())
        };
        let max_page_order = crate::mm::page_alloc::MAX_PAGE_ORDER;
        if let Some(v) = get("slub_max_order") {
            p.max_order = v.min(max_page_order);
        }
        if let Some(v) = get("slub_min_order") {
            p.min_order = v.min(max_page_order);
            p.max_order = p.max_order.max(p.min_order);
        }
        if let Some(v) = get("slub_min_objects") {
            p.min_objects = v;
        }
        p
    }
}

/// `get_order(size)`: the smallest order whose block holds `size` bytes.
pub fn get_order(size: u64) -> u32 {
    let pages = size.div_ceil(u64::from(PAGE_SIZE)).max(1);
    pages.next_power_of_two().trailing_zeros()
}

/// `order_objects`: objects of `size` in a slab of `order`.
pub fn order_objects(order: u32, size: u32) -> u32 {
    ((u64::from(PAGE_SIZE) << order) / u64::from(size)) as u32
}

/// `calc_slab_order` (6.8+ form: it starts at `min_order`): the first order from
/// `min_order` up to `max_order` whose leftover is at most `slab_size / fract_leftover`;
/// `max_order + 1` when none is.
fn calc_slab_order(size: u32, min_order: u32, max_order: u32, fract_leftover: u32) -> u32 {
    let mut order = min_order;
    while order <= max_order {
        let slab_size = PAGE_SIZE << order;
        let rem = slab_size % size;
        if rem <= slab_size / fract_leftover {
            break;
        }
        order += 1;
    }
    order
}

/// `calc_slab_order` before 6.8, which starts from `min_objects` itself (and caps tiny
/// objects at MAX_OBJS_PER_PAGE per slab).
fn calc_slab_order_objects(
    p: &SlubParams,
    size: u32,
    min_objects: u32,
    max_order: u32,
    fract_leftover: u32,
) -> u32 {
    if order_objects(p.min_order, size) > MAX_OBJS_PER_PAGE {
        return get_order(u64::from(size) * u64::from(MAX_OBJS_PER_PAGE)).saturating_sub(1);
    }
    let start = p
        .min_order
        .max(get_order(u64::from(min_objects) * u64::from(size)));
    calc_slab_order(size, start, max_order, fract_leftover)
}

/// `fls`: the position of the highest set bit, 1-based (0 for 0).
fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// mm/slub.c: `calculate_order` for objects of `size` bytes on a machine with `nr_cpus`
/// CPUs (`num_present_cpus()`, or `nr_cpu_ids` when that is 1; before 5.12 always
/// `nr_cpu_ids`: the same at boot on the machines bootmm models), under the boot options
/// `p`. `None` where the kernel returns -ENOSYS (no order up to MAX_PAGE_ORDER holds one
/// object).
pub fn calculate_order(rules: &SlubRules, p: &SlubParams, size: u32, nr_cpus: u32) -> Option<u32> {
    if size == 0 {
        return None;
    }
    let max_page_order = crate::mm::page_alloc::MAX_PAGE_ORDER;
    let max_order = p.max_order;
    let mut min_objects = p.min_objects;
    if min_objects == 0 {
        min_objects = 4 * (fls(nr_cpus.max(1)) + 1);
    }
    let max_objects = order_objects(max_order, size);
    min_objects = min_objects.min(max_objects);
    if rules.fraction_only {
        let min_order = p
            .min_order
            .max(get_order(u64::from(min_objects) * u64::from(size)));
        let mut fraction = 16;
        while fraction > 1 {
            let order = calc_slab_order(size, min_order, max_order, fraction);
            if order <= max_order {
                return Some(order);
            }
            fraction /= 2;
        }
        let order = get_order(u64::from(size));
        return (order <= max_page_order).then_some(order);
    }
    while min_objects > 1 {
        let mut fraction = 16;
        while fraction >= 4 {
            let order = calc_slab_order_objects(p, size, min_objects, max_order, fraction);
            if order <= max_order {
                return Some(order);
            }
            fraction /= 2;
        }
        min_objects -= 1;
    }
    let order = calc_slab_order_objects(p, size, 1, max_order, 1);
    if order <= max_order {
        return Some(order);
    }
    // "Doh this slab cannot be placed using slub_max_order": up to MAX_ORDER - 1.
    let order = calc_slab_order_objects(p, size, 1, max_page_order, 1);
    (order <= max_page_order).then_some(order)
}

/// What `/proc/slabinfo` prints of a cache's geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabGeometry {
    /// `<objsize>`: `s->object_size`.
    pub objsize: u32,
    /// `<objperslab>`: `oo_objects(s->oo)`.
    pub objperslab: u32,
    /// `<pagesperslab>`: `1 << oo_order(s->oo)`.
    pub pagesperslab: u32,
}

/// The geometry of a cache of `size`-byte objects without debug flags (`s->size ==
/// s->object_size`).
pub fn geometry(rules: &SlubRules, size: u32, nr_cpus: u32) -> Option<SlabGeometry> {
    let order = calculate_order(rules, &SlubParams::default(), size, nr_cpus)?;
    Some(SlabGeometry {
        objsize: size,
        objperslab: order_objects(order, size),
        pagesperslab: 1 << order,
    })
}

/// `kmalloc_info[]`'s sizes for SLUB on x86_64 (KMALLOC_SHIFT_LOW 3 to KMALLOC_SHIFT_HIGH
/// 13), with 96 and 192, in size order.
pub const KMALLOC_SIZES: [u32; 13] = [
    8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
];

/// The name of the kmalloc cache of `size` (`kmalloc-96`, `kmalloc-1k` from 4.20,
/// `kmalloc-1024` before).
pub fn kmalloc_name(rules: &SlubRules, size: u32) -> String {
    if rules.short_names && size >= 1024 && size % 1024 == 0 {
        ::alloc::format!("kmalloc-{}k", size / 1024)
    } else {
        ::alloc::format!("kmalloc-{size}")
    }
}

/// Every kmalloc-N cache with its geometry on a machine of `era` with `nr_cpus` CPUs.
pub fn kmalloc_caches(era: &Era, nr_cpus: u32) -> Vec<(String, SlabGeometry)> {
    let rules = SlubRules::new(era);
    KMALLOC_SIZES
        .iter()
        .filter_map(|&s| Some((kmalloc_name(&rules, s), geometry(&rules, s, nr_cpus)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};

    fn era(v: (u32, u32, u32)) -> Era {
        Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64)
    }

    #[test]
    fn orders_follow_the_cpu_count() {
        let r = SlubRules::new(&era((5, 10, 0)));
        // 4 CPUs: min_objects 16; 8 CPUs: 20.
        assert_eq!(geometry(&r, 256, 4).unwrap().objperslab, 16);
        assert_eq!(
            geometry(&r, 256, 8).unwrap(),
            SlabGeometry {
                objsize: 256,
                objperslab: 32,
                pagesperslab: 2
            }
        );
        assert_eq!(geometry(&r, 192, 8).unwrap().objperslab, 21);
        assert_eq!(geometry(&r, 8192, 64).unwrap().pagesperslab, 8);
        assert_eq!(kmalloc_name(&r, 1024), "kmalloc-1k");
        assert_eq!(
            kmalloc_name(&SlubRules::new(&era((4, 18, 0))), 1024),
            "kmalloc-1024"
        );
        assert_eq!(calculate_order(&r, &SlubParams::default(), 0, 1), None);
        // slub_max_order=0 keeps kmalloc-256 in one page however many CPUs there are.
        let p = SlubParams {
            max_order: 0,
            ..SlubParams::default()
        };
        assert_eq!(calculate_order(&r, &p, 256, 64), Some(0));
    }

    #[test]
    fn three_page_objects_take_order_3_with_a_quarter_wasted() {
        for v in [(5, 10, 0), (6, 8, 0)] {
            let r = SlubRules::new(&era(v));
            // 12 KiB objects: min_objects is capped at the 2 an order-3 slab holds; the
            // 8 KiB left over passes only at the 1/4 fraction.
            let o = calculate_order(&r, &SlubParams::default(), 3 * 4096, 2);
            assert_eq!(o, Some(3), "{v:?}");
            assert_eq!(order_objects(3, 3 * 4096), 2);
        }
        // 6.8's 1/2 fraction: 40 KiB objects fit one per order-4 slab... past slub_max_order,
        // so get_order(size) decides; before 6.8 the single-object search does the same.
        for v in [(5, 10, 0), (6, 8, 0)] {
            let r = SlubRules::new(&era(v));
            assert_eq!(
                calculate_order(&r, &SlubParams::default(), 40 << 10, 2),
                Some(4),
                "{v:?}"
            );
        }
    }
}
