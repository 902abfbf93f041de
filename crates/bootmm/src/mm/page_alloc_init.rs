//! The boot-time tuning of the page allocator (mm/page_alloc.c): `build_all_zonelists` when
//! the zones are sized, and the `init_per_zone_wmark_min` initcall once every page is free.
//!
//! The arithmetic lives in `zonelist.rs` and `watermark.rs`; this module runs it at the point
//! of boot the kernel does, on the live zones, and prints what the kernel prints. The kernel
//! keeps these values in `struct zone`; so does bootmm (`k.page_alloc`).

use alloc::vec::Vec;

use crate::kernel::Kernel;
use crate::mm::page_alloc::ZoneRef;
use crate::mm::watermark::{self, MinFreeParams, WmZone};
use crate::mm::zonelist::{self, ZlNode, ZonelistConfig};
use crate::pr_info;

/// The zones of every online node as the watermark and zonelist code sees them, from the live
/// `struct zone`s (`managed` as the allocator counts it now), with their references.
fn live_zones(k: &Kernel) -> Vec<(ZoneRef, WmZone)> {
    let mut out = Vec::new();
    for n in &k.page_alloc.node_data {
        for (i, z) in n.node_zones.iter().enumerate() {
            out.push((
                ZoneRef {
                    nid: n.node_id,
                    zone_idx: i,
                },
                WmZone {
                    nid: n.node_id,
                    zone_type: z.zone_type,
                    managed: z.managed(),
                    present: z.present_pages,
                },
            ));
        }
    }
    out
}

/// mm/page_alloc.c: `build_all_zonelists(NULL)` at boot → `build_all_zonelists_init` →
/// `__build_all_zonelists`: each node's fallback zonelist in node order (nearest node first,
/// each node's zones from the highest down), then the "Fallback order", "Built … zonelists"
/// and "Policy zone" lines. At this point `managed_pages` still holds `free_area_init`'s
/// estimate and no watermark is set, which is what "Total pages" reports.
pub fn build_all_zonelists_init(k: &mut Kernel) {
    if k.page_alloc.node_data.is_empty() {
        return;
    }
    let _t = k.trace.enter("build_all_zonelists", FILE);
    let cfg = k.machine.kernel_config();
    let nodes: Vec<ZlNode> = k
        .page_alloc
        .node_data
        .iter()
        .map(|n| ZlNode {
            nid: n.node_id,
            has_cpus: true,
            has_memory: n.node_present_pages != 0,
        })
        .collect();
    let numa = &k.numa;
    let orders = zonelist::build_all_zonelists_order(&k.era, &nodes, &|a, b| {
        u64::from(numa.node_distance(a, b))
    });
    // The zonelists the allocator walks: ZONELIST_FALLBACK in node order.
    for (nid, order) in &orders {
        let mut refs = Vec::new();
        for n in order {
            if let Some(pg) = k.page_alloc.node(*n) {
                for (i, z) in pg.node_zones.iter().enumerate().rev() {
                    if z.present_pages != 0 {
                        refs.push(ZoneRef {
                            nid: *n,
                            zone_idx: i,
                        });
                    }
                }
            }
        }
        k.page_alloc.set_zonelist(*nid, refs);
    }
    let zones: Vec<WmZone> = live_zones(k).into_iter().map(|(_, z)| z).collect();
    let built = zonelist::build_all_zonelists(
        &k.era,
        &ZonelistConfig {
            numa: cfg.numa,
            cma: cfg.cma,
            memory_isolation: cfg.memory_isolation,
        },
        &zones,
        &orders,
    );
    k.page_alloc.page_group_by_mobility_disabled = built.page_group_by_mobility_disabled;
    for l in &built.lines {
        pr_info!(k.printk, "{l}\n");
    }
}

/// mm/page_alloc.c: the `init_per_zone_wmark_min` initcall (module_init before 4.7,
/// core_initcall 4.7–5.9, postcore_initcall from 5.10): `min_free_kbytes` from the lowmem
/// pages, every zone's min/low/high, and `lowmem_reserve`, on the managed counts after the
/// hand-over. With THP (`transparent_hugepage=always|madvise` on the command line),
/// khugepaged's `set_recommended_min_free_kbytes` raise follows, as the era orders it.
pub fn init_per_zone_wmark_min_initcall(k: &mut Kernel) {
    if k.page_alloc.node_data.is_empty() {
        return;
    }
    let _t = k.trace.enter("init_per_zone_wmark_min", FILE);
    let live = live_zones(k);
    let zones: Vec<WmZone> = live.iter().map(|(_, z)| *z).collect();
    let mut p = MinFreeParams::default();
    for a in crate::klib::cmdline::split_args(&k.machine.cmdline) {
        match (a.param, a.val) {
            ("transparent_hugepage", Some(v)) => p.thp = v == "always" || v == "madvise",
            ("min_free_kbytes", Some(v)) => p.user_min_free_kbytes = v.parse().ok(),
            ("watermark_scale_factor", Some(v)) => {
                if let Ok(w) = v.parse() {
                    p.watermark_scale_factor = w;
                }
            }
            _ => {}
        }
    }
    let t = watermark::init_per_zone_wmark_min(&k.era, &zones, &p);
    for l in &t.lines {
        pr_info!(k.printk, "{l}\n");
    }
    for (((r, _), w), prot) in live.iter().zip(&t.wmarks).zip(&t.protection) {
        k.page_alloc
            .set_zone_watermarks(*r, [w.min, w.low, w.high], prot);
    }
    k.vm.min_free_kbytes = t.min_free_kbytes;
    k.vm.totalreserve_pages = t.totalreserve_pages;
    k.vm.watermark_scale_factor = p.watermark_scale_factor;
}

/// The page allocator's tunables and totals, globals of mm/page_alloc.c in the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmGlobals {
    /// `min_free_kbytes` (`vm.min_free_kbytes`).
    pub min_free_kbytes: u64,
    /// `watermark_scale_factor` (`vm.watermark_scale_factor`).
    pub watermark_scale_factor: u64,
    /// `totalreserve_pages`.
    pub totalreserve_pages: u64,
}

/// The file `build_all_zonelists` and `init_per_zone_wmark_min` live in.
const FILE: &str = "mm/page_alloc.c";
