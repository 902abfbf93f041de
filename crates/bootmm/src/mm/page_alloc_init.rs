//! The boot-time tuning of the page allocator (mm/page_alloc.c): `build_all_zonelists` when
//! the zones are sized, and the `init_per_zone_wmark_min` initcall once every page is free.
//!
//! The arithmetic lives in `zonelist.rs` and `watermark.rs`; this module runs it at the point
//! of boot the kernel does, on the live zones, and prints what the kernel prints. The kernel
//! keeps these values in `struct zone`; so does bootmm (`k.page_alloc`).

use alloc::string::String;
use alloc::vec::Vec;

use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::page_alloc::{self, ZoneRef};
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
    record_build_all_zonelists(k);
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

/// The calls under `build_all_zonelists` and `setup_per_cpu_pageset` that the call tree
/// records by name (the work itself is done by [`build_all_zonelists_init`] and
/// [`setup_per_cpu_pageset`]), decided once per era.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PagesetCalls {
    /// `build_zonelist_cache` after each node's `build_zonelists`: the zonelist cache lived
    /// until 4.4 (Mel Gorman's "mm, page_alloc: delete the zonelist_cache").
    zonelist_cache: bool,
    /// `setup_pageset` (boot pagesets) and `zone_pageset_init` (zone pagesets) call
    /// `pageset_init` and `pageset_set_batch`: 3.11's "mm/page_alloc: factor out setting of
    /// pcp->high and pcp->batch" up to 5.10. The 5.11 and 5.14 pageset reworks renamed them;
    /// those eras record only `setup_per_cpu_pageset` and `__build_all_zonelists`.
    pageset_init: bool,
}

impl PagesetCalls {
    fn new(era: &crate::era::Era) -> Self {
        PagesetCalls {
            zonelist_cache: !era.at_least(4, 4),
            pageset_init: era.at_least(3, 11) && !era.at_least(5, 11),
        }
    }
}

/// `__build_all_zonelists`'s calls: each online node's `build_zonelists` (and
/// `build_zonelist_cache`), then every possible CPU's `boot_pageset` through `setup_pageset`.
fn record_build_all_zonelists(k: &Kernel) {
    let calls = PagesetCalls::new(&k.era);
    let _t = k.trace.enter("__build_all_zonelists", FILE);
    for _ in &k.page_alloc.node_data {
        let _t = k.trace.enter("build_zonelists", FILE);
        drop(_t);
        if calls.zonelist_cache {
            let _t = k.trace.enter("build_zonelist_cache", FILE);
        }
    }
    if calls.pageset_init {
        for _ in 0..k.machine.cpus.max(1) {
            let _t = k.trace.enter("setup_pageset", FILE);
            let _a = k.trace.enter("pageset_init", FILE);
            drop(_a);
            let _b = k.trace.enter("pageset_set_batch", FILE);
        }
    }
}

/// `setup_zone_pageset`'s per-CPU calls: `zone_pageset_init` → `pageset_init`,
/// `pageset_set_high_and_batch` → `pageset_set_batch` (no `percpu_pagelist_fraction` at boot).
fn record_zone_pageset_init(k: &Kernel) {
    if !PagesetCalls::new(&k.era).pageset_init {
        return;
    }
    for _ in 0..k.machine.cpus.max(1) {
        let _t = k.trace.enter("zone_pageset_init", FILE);
        let _a = k.trace.enter("pageset_init", FILE);
        drop(_a);
        let _b = k.trace.enter("pageset_set_high_and_batch", FILE);
        let _c = k.trace.enter("pageset_set_batch", FILE);
    }
}

/// mm/page_alloc.c: the `init_per_zone_wmark_min` initcall (module_init before 4.7,
/// core_initcall 4.7–5.9, postcore_initcall from 5.10): `min_free_kbytes` from the lowmem
/// pages, every zone's min/low/high, and `lowmem_reserve`, on the managed counts after the
/// hand-over. With THP on (the build's default or `transparent_hugepage=always|madvise`) and
/// at least 512 MiB of RAM, khugepaged's `set_recommended_min_free_kbytes` raise follows, as
/// the era orders it.
pub fn init_per_zone_wmark_min_initcall(k: &mut Kernel) -> Result<(), BootError> {
    if k.page_alloc.node_data.is_empty() {
        return Ok(());
    }
    let _t = k.trace.enter("init_per_zone_wmark_min", FILE);
    let live = live_zones(k);
    let zones: Vec<WmZone> = live.iter().map(|(_, z)| *z).collect();
    let mut p = MinFreeParams::default();
    let mut thp = k.machine.kernel_config().thp;
    for a in crate::klib::cmdline::split_args(&k.machine.cmdline) {
        match (a.param, a.val) {
            // setup_transparent_hugepage: an unknown word is refused (the default stays).
            ("transparent_hugepage", Some(v)) => {
                if let (Some(_), Some(m)) = (thp, crate::machine::ThpMode::parse(v)) {
                    thp = Some(m);
                }
            }
            ("min_free_kbytes", Some(v)) => p.user_min_free_kbytes = v.parse().ok(),
            ("watermark_scale_factor", Some(v)) => {
                if let Ok(w) = v.parse() {
                    p.watermark_scale_factor = w;
                }
            }
            _ => {}
        }
    }
    // hugepage_init: khugepaged starts (and raises min_free_kbytes) when THP is on, except
    // that below 512 MiB of RAM THP turns itself off.
    p.thp = match thp {
        _ if k.page_alloc.totalram_pages() < watermark::THP_MIN_TOTALRAM_PAGES => {
            watermark::ThpBoot::Absent
        }
        Some(m) if m.khugepaged() => watermark::ThpBoot::On,
        Some(_) => watermark::ThpBoot::Off,
        None => watermark::ThpBoot::Absent,
    };
    let mut t = watermark::init_per_zone_wmark_min(&k.era, &zones, &p);
    apply_sysctls(k, &zones, &mut t, p.watermark_scale_factor)?;
    for l in &t.lines {
        pr_info!(k.printk, "{l}\n");
    }
    for (((r, _), w), prot) in live.iter().zip(&t.wmarks).zip(&t.protection) {
        k.page_alloc
            .set_zone_watermarks(*r, [w.min, w.low, w.high], prot);
        // Before 4.4 `__setup_per_zone_wmarks` ends each zone with its MIGRATE_RESERVE
        // pageblocks (once here, with the final min: see docs/divergences.md).
        page_alloc::setup_zone_migrate_reserve(&k.page_alloc, &k.sparse, *r);
    }
    k.vm.min_free_kbytes = t.min_free_kbytes;
    k.vm.totalreserve_pages = t.totalreserve_pages;
    k.vm.watermark_scale_factor = p.watermark_scale_factor;
    zone_pcp_update_all(k);
    Ok(())
}

/// `INT_MAX`: the largest value `proc_dointvec_minmax` stores.
const INT_MAX: u64 = i32::MAX as u64;

/// The sysctls bootmm models, checked as their proc handlers check a write
/// (`proc_dointvec_minmax` over the kernel's `int`s and bounds), before any boot work:
/// `vm.min_free_kbytes` 0..=INT_MAX; `vm.watermark_scale_factor` 1..=3000, which exists
/// from 4.6; `vm.lowmem_reserve_ratio` one non-negative `int` per entry of
/// `sysctl_lowmem_reserve_ratio[]` (MAX_NR_ZONES entries from 4.17, MAX_NR_ZONES - 1
/// before), of which fewer may be given. `zone_types` are the build's zones.
///
/// # Errors
/// What the kernel would refuse (its write returns -EINVAL), or a sysctl bootmm does not
/// model, as a message naming the key and the allowed values.
pub fn check_sysctl(
    era: &crate::era::Era,
    zone_types: &[crate::mm::mm_init::ZoneType],
    key: &str,
    val: &str,
) -> Result<(), alloc::string::String> {
    let int = |v: &str, lo: u64, hi: u64| -> Result<u64, alloc::string::String> {
        match v.trim().parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(alloc::format!(
                "sysctl {key}={val}: the kernel takes an integer from {lo} to {hi} here (EINVAL)"
            )),
        }
    };
    match key {
        "vm.min_free_kbytes" => int(val, 0, INT_MAX).map(|_| ()),
        "vm.watermark_scale_factor" => {
            if !era.at_least(4, 6) {
                return Err(alloc::format!(
                    "sysctl {key}: there is no such sysctl before 4.6 (this kernel is {})",
                    era.release
                ));
            }
            int(val, 1, 3000).map(|_| ())
        }
        "vm.lowmem_reserve_ratio" => {
            let slots = if crate::mm::watermark::LowmemReserveForm::of(era)
                != crate::mm::watermark::LowmemReserveForm::Forced
            {
                zone_types.len()
            } else {
                zone_types.len() - 1
            };
            let given: alloc::vec::Vec<&str> = val.split_whitespace().collect();
            if given.is_empty() || given.len() > slots {
                return Err(alloc::format!(
                    "sysctl {key}=\"{val}\": this kernel has {slots} entries ({}), got {}",
                    zone_types
                        .iter()
                        .take(slots)
                        .map(|z| z.name())
                        .collect::<alloc::vec::Vec<_>>()
                        .join(" "),
                    given.len()
                ));
            }
            for g in given {
                int(g, 0, INT_MAX)?;
            }
            Ok(())
        }
        _ => Err(alloc::format!(
            "sysctl {key}: not modelled (known: vm.min_free_kbytes, vm.watermark_scale_factor, vm.lowmem_reserve_ratio)"
        )),
    }
}

/// The machine's `--sysctl` settings, written as boot finishes: each handler recomputes what
/// the kernel's does (`min_free_kbytes_sysctl_handler` → `setup_per_zone_wmarks`,
/// `watermark_scale_factor_sysctl_handler` → `setup_per_zone_wmarks`,
/// `lowmem_reserve_ratio_sysctl_handler` → `setup_per_zone_lowmem_reserve`).
fn apply_sysctls(
    k: &Kernel,
    zones: &[WmZone],
    t: &mut watermark::ZoneTuning,
    mut wsf: u64,
) -> Result<(), BootError> {
    let zone_types = k.page_alloc.zone_types.clone();
    for (key, val) in &k.machine.sysctl {
        check_sysctl(&k.era, &zone_types, key, val).map_err(BootError::Param)?;
        let bad = || BootError::Param(alloc::format!("sysctl {key}={val}: not a valid value"));
        match key.as_str() {
            "vm.min_free_kbytes" => {
                t.min_free_kbytes = val.parse().map_err(|_| bad())?;
                t.wmarks =
                    watermark::__setup_per_zone_wmarks(&k.era, zones, t.min_free_kbytes, wsf);
            }
            "vm.watermark_scale_factor" => {
                wsf = val.parse().map_err(|_| bad())?;
                if !(1..=3000).contains(&wsf) {
                    return Err(bad());
                }
                t.wmarks =
                    watermark::__setup_per_zone_wmarks(&k.era, zones, t.min_free_kbytes, wsf);
            }
            "vm.lowmem_reserve_ratio" => {
                let given: Vec<u64> = val
                    .split_whitespace()
                    .map(|v| v.parse().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?;
                let mut out = Vec::new();
                let mut i = 0;
                while i < zones.len() {
                    let n = zones[i..]
                        .iter()
                        .take_while(|z| z.nid == zones[i].nid)
                        .count();
                    let managed: Vec<u64> = zones[i..i + n].iter().map(|z| z.managed).collect();
                    let mut ratio = watermark::lowmem_reserve_ratio(
                        &k.era,
                        &zones[i..i + n]
                            .iter()
                            .map(|z| z.zone_type)
                            .collect::<Vec<_>>(),
                    );
                    for (r, g) in ratio.iter_mut().zip(&given) {
                        *r = *g;
                    }
                    out.extend(watermark::setup_per_zone_lowmem_reserve(
                        &k.era, &managed, &ratio,
                    ));
                    i += n;
                }
                t.protection = out;
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
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

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::machine::Machine;

    fn boot(m: Machine) -> Kernel {
        let mut k = Kernel::new(m).unwrap();
        crate::init::main::start_kernel(&mut k).unwrap();
        k
    }

    /// Σ min over the lowmem zones (highmem and, from 6.6, movable zones get a clamped
    /// min of their own, even when empty).
    fn min_sum(k: &Kernel) -> u64 {
        k.page_alloc
            .zones()
            .filter(|z| z.zone_type <= crate::mm::mm_init::ZoneType::Normal)
            .map(|z| z._watermark[0])
            .sum()
    }

    /// khugepaged starts by default (the Kconfig default THP "always") and raises
    /// min_free_kbytes to 11 pageblocks per populated zone up to Normal; below 512 MiB THP
    /// turns itself off; with THP "never" 5.16+ computes the square root again, less the
    /// high watermarks (Debian 6.12 under QEMU: 67584 kB at 4 GiB; 7973 with "never").
    #[test]
    fn khugepaged_sets_min_free_kbytes_at_boot() {
        let k = boot(Machine::qemu_4g());
        assert_eq!(k.vm.min_free_kbytes, 3 * 11 * 512 * 4);
        let k = boot(Machine::qemu(256 << 20, 1).unwrap());
        let lowmem_kb: u64 = k.page_alloc.zones().map(|z| z.managed()).sum::<u64>() * 4;
        assert_eq!(k.vm.min_free_kbytes, watermark::int_sqrt(lowmem_kb * 16));
        let mut m = Machine::qemu_4g();
        m.cmdline = "transparent_hugepage=never".into();
        let k = boot(m);
        let free_buffer: u64 = k
            .page_alloc
            .zones()
            .filter(|z| z.zone_type <= crate::mm::mm_init::ZoneType::Normal)
            .map(|z| z.managed().saturating_sub(z.high_wmark_pages()))
            .sum();
        // The high watermarks of the first pass were a little higher than the final ones.
        let again = watermark::int_sqrt(free_buffer * 4 * 16);
        assert!(k.vm.min_free_kbytes <= again && again - k.vm.min_free_kbytes < 8);
        let lowmem_kb: u64 = k.page_alloc.zones().map(|z| z.managed()).sum::<u64>() * 4;
        assert!(k.vm.min_free_kbytes < watermark::int_sqrt(lowmem_kb * 16));
    }

    #[test]
    fn the_initcall_sets_min_free_kbytes_from_lowmem_and_spreads_it_over_zones() {
        // 4.4 with THP off: the square root alone (5.16+ recomputes it, see below).
        let mut m = Machine::qemu_4g();
        m.era = crate::era::Era::new(crate::era::KernelVersion::new(4, 4, 0), m.era.arch);
        m.cmdline = "transparent_hugepage=never".into();
        let k = boot(m);
        // int_sqrt(lowmem_kbytes * 16), clamped: 4 GiB of lowmem gives a few MiB.
        let lowmem_kb: u64 = k.page_alloc.zones().map(|z| z.managed()).sum::<u64>() * 4;
        assert_eq!(k.vm.min_free_kbytes, watermark::int_sqrt(lowmem_kb * 16));
        // Each zone's min is its share, floored: the sum is within one page per zone.
        let pages_min = k.vm.min_free_kbytes / 4;
        let zones = k.page_alloc.zones().filter(|z| z.managed() > 0).count() as u64;
        assert!(min_sum(&k) <= pages_min && min_sum(&k) + zones >= pages_min);
        assert!(k
            .printk
            .lines()
            .iter()
            .any(|l| l.text.starts_with("Built 1 zonelists")));
    }

    #[test]
    fn sysctls_recompute_watermarks_and_protection() {
        let mut m = Machine::qemu_4g();
        m.sysctl.push(("vm.min_free_kbytes".into(), "65536".into()));
        m.sysctl
            .push(("vm.lowmem_reserve_ratio".into(), "1 1 1 0 0".into()));
        let k = boot(m);
        assert_eq!(k.vm.min_free_kbytes, 65536);
        let s = min_sum(&k);
        assert!(s <= 16384 && s + 4 >= 16384, "{s}");
        // Ratio 1: the DMA zone reserves everything above it.
        let dma = k.page_alloc.zones().next().unwrap();
        let above: u64 = k
            .page_alloc
            .zones()
            .skip(1)
            .take(2)
            .map(|z| z.managed())
            .sum();
        assert_eq!(dma.lowmem_reserve[2], above);
    }

    #[test]
    fn a_bad_sysctl_value_stops_with_a_clear_error() {
        let mut m = Machine::qemu_4g();
        m.sysctl
            .push(("vm.watermark_scale_factor".into(), "0".into()));
        let mut k = Kernel::new(m).unwrap();
        let e = crate::init::main::start_kernel(&mut k).unwrap_err();
        assert!(e.to_string().contains("vm.watermark_scale_factor=0"), "{e}");
    }
}

/// The CPUs `cpumask_of_node(nid)` holds once all are up: those on the node, or, under NUMA
/// emulation, on any emulated node of the same physical node (`numa_add_cpu` sets a CPU in
/// each of them). Without CONFIG_NUMA, every CPU.
fn node_cpus(k: &Kernel, nid: u32) -> u32 {
    if !k.machine.kernel_config().numa {
        return k.machine.cpus;
    }
    let phys = |n: i32| -> i32 {
        let emu = &k.numa.emu_nid_to_phys;
        if emu.is_empty() || n < 0 {
            n
        } else {
            emu.get(n as usize).copied().unwrap_or(n)
        }
    };
    let want = phys(nid as i32);
    k.numa
        .cpu_to_node
        .iter()
        .filter(|&&n| n >= 0 && phys(n) == want)
        .count() as u32
}

/// `zone_set_pageset_high_and_batch` for every populated zone's pagesets, with the zone's
/// managed pages and low watermark as they are now (`pageset_update`: the lists keep their
/// pages).
fn set_pagesets(k: &Kernel) {
    let cpus = k.machine.cpus.max(1);
    for n in &k.page_alloc.node_data {
        for z in n.node_zones.iter() {
            if !z.populated() || z.per_cpu_pageset.is_empty() {
                continue;
            }
            let sizes = watermark::zone_set_pageset_high_and_batch(
                &k.era,
                z.managed(),
                z.low_wmark_pages(),
                node_cpus(k, n.node_id),
                cpus,
            );
            page_alloc::pageset_update(z, &sizes);
        }
    }
}

/// Bytes `setup_zone_pageset` and `setup_per_cpu_pageset` take from the percpu allocator per
/// zone (`per_cpu_pageset`, plus `per_cpu_zonestats` from 5.14) and per node
/// (`per_cpu_nodestats`, 4.8+), each cache-line aligned. Estimates of x86_64 builds' structure
/// sizes: see docs/divergences.md.
fn pageset_percpu_sizes(era: &crate::era::Era) -> (&'static [u64], u64) {
    if era.at_least(5, 14) {
        (&[320, 64], 64)
    } else if era.at_least(4, 8) {
        (&[128], 64)
    } else {
        (&[128], 0)
    }
}

/// mm/page_alloc.c: `setup_per_cpu_pageset`: every populated zone leaves `boot_pageset` for
/// per-CPU pagesets taken from the percpu allocator, sized by `zone_set_pageset_high_and_batch`
/// with the managed pages of this moment (before 5.14 that stays: deferred pages are not in
/// them yet), and each node gets its per-CPU node statistics.
///
/// # Errors
/// [`BootError::NoMemory`] when the percpu allocator has no room (the kernel panics:
/// "Failed to allocate ... for zone pagesets").
pub fn setup_per_cpu_pageset(k: &mut Kernel) -> Result<(), BootError> {
    if k.page_alloc.node_data.is_empty() || k.percpu.ai.is_none() {
        return Ok(());
    }
    let _t = k.trace.enter("setup_per_cpu_pageset", FILE);
    let (per_zone, per_node) = pageset_percpu_sizes(&k.era);
    let nr_lists = k.page_alloc.pcp.nr_lists;
    let need = crate::mm::page_alloc::pcp::per_cpu_pages_size(nr_lists) as u64;
    let zones: Vec<ZoneRef> = k
        .page_alloc
        .node_data
        .iter()
        .flat_map(|n| {
            n.node_zones
                .iter()
                .enumerate()
                .filter(|(_, z)| z.populated())
                .map(|(i, _)| ZoneRef {
                    nid: n.node_id,
                    zone_idx: i,
                })
        })
        .collect();
    let cpus = k.machine.cpus.max(1);
    for r in zones {
        let _t = k.trace.enter("setup_zone_pageset", FILE);
        let mut pageset = None;
        for &size in per_zone {
            let p = crate::mm::percpu::__alloc_percpu(k, size, 64).ok_or_else(|| {
                BootError::NoMemory(alloc::format!(
                    "setup_zone_pageset: Failed to allocate {size} per-CPU bytes for zone pagesets"
                ))
            })?;
            // Pagesets are never freed (their lists are linked by host pointers).
            crate::mm::percpu::pcpu_pin(k, p);
            pageset.get_or_insert((p, size));
        }
        let Some((p, size)) = pageset else {
            continue;
        };
        if need > size {
            return Err(BootError::NoMemory(alloc::format!(
                "setup_zone_pageset: a pageset with {nr_lists} lists takes {need} bytes, more than the {size} per-CPU bytes allocated for it"
            )));
        }
        let mut ptrs = Vec::with_capacity(cpus as usize);
        for cpu in 0..cpus {
            let host = crate::mm::percpu::per_cpu_ptr(k, p, cpu)
                .and_then(|pa| k.phys.host_ptr(pa, size).ok())
                .ok_or_else(|| {
                    BootError::NoMemory(alloc::format!(
                        "setup_zone_pageset: CPU {cpu}'s unit of the pageset is not in simulated RAM"
                    ))
                })?;
            // SAFETY: the percpu allocator gave these `size` bytes of CPU `cpu`'s unit to
            // this pageset for good (pagesets are never freed), 64-byte aligned, inside
            // simulated RAM, which lives as long as the kernel; `need <= size`.
            ptrs.push(unsafe { crate::mm::page_alloc::pcp::PcpPtr::init(host, nr_lists) });
        }
        k.page_alloc.setup_zone_pageset(r, ptrs.into_boxed_slice());
        record_zone_pageset_init(k);
    }
    if per_node > 0 {
        for _ in 0..k.page_alloc.node_data.len() {
            crate::mm::percpu::__alloc_percpu(k, per_node, 64).ok_or_else(|| {
                BootError::NoMemory(String::from(
                    "setup_per_cpu_pageset: Failed to allocate per-CPU node statistics",
                ))
            })?;
        }
    }
    set_pagesets(k);
    Ok(())
}

/// mm/page_alloc.c: `zone_pcp_update` for every zone, as `setup_per_zone_wmarks` ends from
/// 5.14: the pagesets follow the new low watermarks and managed counts. Before 5.14 the
/// pagesets keep their setup values.
pub fn zone_pcp_update_all(k: &mut Kernel) {
    if k.era.at_least(5, 14) {
        set_pagesets(k);
    }
}
