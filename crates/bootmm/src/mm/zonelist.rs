//! `mm/page_alloc.c`: `build_all_zonelists` — the per-node fallback order, the "Built N
//! zonelists" line, `vm_total_pages`, mobility grouping and the NUMA policy zone.
//!
//! Every node gets a zonelist: its own zones, then those of the other nodes with memory, the
//! nearest first (SLIT distance, with a penalty for nodes below it and nodes with CPUs, and a
//! round-robin load so equidistant nodes are not all hit by the same neighbour). bootmm
//! computes the node orders and the boot lines from plain per-node inputs; it builds no
//! zoneref arrays, and ranks nodes by (score, load) where the kernel folds both into one int.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::era::Era;
use crate::mm::mm_init::ZoneType;
use crate::mm::watermark::{nr_free_zone_pages, pageblock_nr_pages, WmZone};

/// `PENALTY_FOR_NODE_WITH_CPUS`.
pub const PENALTY_FOR_NODE_WITH_CPUS: u64 = 1;

/// One online node as `build_zonelists` sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZlNode {
    pub nid: u32,
    /// `!cpumask_empty(cpumask_of_node(nid))`.
    pub has_cpus: bool,
    /// In `node_states[N_MEMORY]` (N_HIGH_MEMORY in old kernels).
    pub has_memory: bool,
}

/// `find_next_best_node` (mm/page_alloc.c): the local node first, then the unused node with
/// memory of least `(distance + (n < node) + PENALTY if it has CPUs, node_load[n])`, the first
/// such node in nid order on ties. Marks it used.
pub fn find_next_best_node(
    node: u32,
    nodes: &[ZlNode],
    used: &mut Vec<u32>,
    distance: &dyn Fn(u32, u32) -> u64,
    node_load: &[u64],
) -> Option<u32> {
    if !used.contains(&node) {
        used.push(node);
        return Some(node);
    }
    let mut best: Option<((u64, u64), u32)> = None;
    for (k, n) in nodes.iter().enumerate() {
        if !n.has_memory || used.contains(&n.nid) {
            continue;
        }
        let mut val = distance(node, n.nid);
        val += u64::from(n.nid < node);
        if n.has_cpus {
            val += PENALTY_FOR_NODE_WITH_CPUS;
        }
        let key = (val, node_load.get(k).copied().unwrap_or(0));
        let better = match best {
            None => true,
            Some((b, _)) => key < b,
        };
        if better {
            best = Some((key, n.nid));
        }
    }
    let (_, nid) = best?;
    used.push(nid);
    Some(nid)
}

/// The node order of every online node's fallback zonelist, as `__build_all_zonelists` /
/// `build_zonelists` compute it. `node_load` is reset once for all nodes from 4.14 (per node
/// before); the first node of each new distance group gets load `nr_online_nodes - position`
/// before 5.16 and `+1` (accumulated across nodes) from 5.16.
pub fn build_all_zonelists_order(
    era: &Era,
    nodes: &[ZlNode],
    distance: &dyn Fn(u32, u32) -> u64,
) -> Vec<(u32, Vec<u32>)> {
    let mut node_load = alloc::vec![0u64; nodes.len()];
    let idx = |nid: u32| nodes.iter().position(|n| n.nid == nid).unwrap_or(0);
    let mut out = Vec::with_capacity(nodes.len());
    for local in nodes {
        if !era.at_least(4, 14) {
            node_load.iter_mut().for_each(|l| *l = 0);
        }
        let mut used = Vec::new();
        let mut order = Vec::new();
        let mut prev = local.nid;
        let mut load = nodes.len() as u64;
        while let Some(n) = find_next_best_node(local.nid, nodes, &mut used, distance, &node_load) {
            if distance(local.nid, n) != distance(local.nid, prev) {
                if era.at_least(5, 16) {
                    node_load[idx(n)] += 1;
                } else {
                    node_load[idx(n)] = load;
                }
            }
            load = load.saturating_sub(1);
            prev = n;
            order.push(n);
        }
        out.push((local.nid, order));
    }
    out
}

/// The "Fallback order for Node %d: " line (pr_info + pr_cont "%d " per node, 5.16+).
pub fn fallback_order_line(nid: u32, order: &[u32]) -> String {
    let mut s = alloc::format!("Fallback order for Node {nid}: ");
    for n in order {
        let _ = write!(s, "{n} ");
    }
    s
}

/// `MIGRATE_TYPES` for the build: four (UNMOVABLE, RECLAIMABLE/MOVABLE, MOVABLE/RECLAIMABLE,
/// RESERVE or HIGHATOMIC) plus CMA (CONFIG_CMA) and ISOLATE (CONFIG_MEMORY_ISOLATION, always
/// present before 3.5).
pub fn migrate_types(era: &Era, cma: bool, memory_isolation: bool) -> u64 {
    4 + u64::from(cma) + u64::from(memory_isolation || !era.at_least(3, 5))
}

/// Build facts `build_all_zonelists` depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZonelistConfig {
    pub numa: bool,
    pub cma: bool,
    pub memory_isolation: bool,
}

/// Zonelist order names printed before 4.14.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZonelistOrder {
    Node,
    Zone,
}

impl ZonelistOrder {
    pub fn name(self) -> &'static str {
        match self {
            ZonelistOrder::Node => "Node",
            ZonelistOrder::Zone => "Zone",
        }
    }
}

/// `default_zonelist_order` (mm/page_alloc.c, before 4.14) with `numa_zonelist_order=default`.
/// Non-NUMA kernels use zone order. From 3.16 a 64-bit NUMA kernel uses node order and a
/// 32-bit one zone order; before, node order was chosen when DMA/DMA32 hold more than half of
/// all present pages, or some node bigger than average has more than 70% of its pages there.
pub fn default_zonelist_order(era: &Era, numa: bool, zones: &[WmZone]) -> ZonelistOrder {
    if !numa {
        return ZonelistOrder::Zone;
    }
    if era.at_least(3, 16) {
        return if era.is_64bit() {
            ZonelistOrder::Node
        } else {
            ZonelistOrder::Zone
        };
    }
    let low = |zs: &mut dyn Iterator<Item = &WmZone>| -> (u64, u64) {
        let (mut l, mut t) = (0, 0);
        for z in zs.filter(|z| z.present > 0) {
            if z.zone_type < ZoneType::Normal {
                l += z.present;
            }
            t += z.present;
        }
        (l, t)
    };
    let (low_kmem, total) = low(&mut zones.iter());
    if low_kmem == 0 || low_kmem > total / 2 {
        return ZonelistOrder::Node;
    }
    let mut nids: Vec<u32> = zones.iter().map(|z| z.nid).collect();
    nids.dedup();
    let with_mem = {
        let mut v: Vec<u32> = zones
            .iter()
            .filter(|z| z.present > 0)
            .map(|z| z.nid)
            .collect();
        v.dedup();
        v.len() as u64
    };
    let average = total / (with_mem + 1);
    for nid in nids {
        let (l, t) = low(&mut zones.iter().filter(|z| z.nid == nid));
        if l > 0 && t > average && l > t * 70 / 100 {
            return ZonelistOrder::Node;
        }
    }
    ZonelistOrder::Zone
}

/// What `build_all_zonelists` prints and decides at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltZonelists {
    pub vm_total_pages: u64,
    pub page_group_by_mobility_disabled: bool,
    pub policy_zone: ZoneType,
    /// Fallback lines (5.16+, NUMA), the "Built" line, and "Policy zone" (NUMA).
    pub lines: Vec<String>,
}

/// `build_all_zonelists` at boot (mm/page_alloc.c). `zones` are all zones of all online nodes
/// with the managed counts of that moment: the `free_area_init` estimates (Σ freesize up to
/// 6.10, present pages from 6.11). `node_orders` comes from [`build_all_zonelists_order`]
/// (NUMA) and is only printed. vm_total_pages = `nr_free_zone_pages(ZONE_MOVABLE)` with the
/// watermarks still 0.
pub fn build_all_zonelists(
    era: &Era,
    cfg: &ZonelistConfig,
    zones: &[WmZone],
    node_orders: &[(u32, Vec<u32>)],
) -> BuiltZonelists {
    let mut lines = Vec::new();
    if cfg.numa && era.at_least(5, 16) {
        for (nid, order) in node_orders {
            lines.push(fallback_order_line(*nid, order));
        }
    }
    let zero = alloc::vec![0u64; zones.len()];
    let vm_total_pages = nr_free_zone_pages(zones, &zero, ZoneType::Movable);
    let disabled = vm_total_pages
        < pageblock_nr_pages(era) * migrate_types(era, cfg.cma, cfg.memory_isolation);
    let mut nodes_online: Vec<u32> = zones.iter().map(|z| z.nid).collect();
    nodes_online.dedup();
    let nr = if node_orders.is_empty() {
        nodes_online.len().max(1)
    } else {
        node_orders.len()
    };
    let grouping = if disabled { "off" } else { "on" };
    if era.at_least(4, 14) {
        lines.push(alloc::format!(
            "Built {nr} zonelists, mobility grouping {grouping}.  Total pages: {vm_total_pages}"
        ));
    } else {
        let order = default_zonelist_order(era, cfg.numa, zones);
        lines.push(alloc::format!(
            "Built {nr} zonelists in {} order, mobility grouping {grouping}.  Total pages: {vm_total_pages}",
            order.name()
        ));
    }
    // check_highest_zone: the highest populated zone type other than Movable.
    let policy_zone = zones
        .iter()
        .filter(|z| z.managed > 0 && z.zone_type != ZoneType::Movable)
        .map(|z| z.zone_type)
        .max()
        .unwrap_or(ZoneType::Dma);
    if cfg.numa {
        lines.push(alloc::format!("Policy zone: {}", policy_zone.name()));
    }
    BuiltZonelists {
        vm_total_pages,
        page_group_by_mobility_disabled: disabled,
        policy_zone,
        lines,
    }
}

/// The page count of a zone that `nr_free_zone_pages` reads when `build_all_zonelists` runs at
/// boot, from the zone's present pages and what `free_area_init_core` subtracted (`memmap`
/// pages, and `dma_reserve` for the first zone): before 3.8 `present_pages` itself held
/// present − memmap − reserve; 3.8 read the real present pages; 3.9–6.10 read the managed
/// estimate (present for HighMem, present − memmap − reserve otherwise); 6.11 on the estimate
/// is the present count.
pub fn boot_zone_pages(
    era: &Era,
    zone_type: ZoneType,
    present: u64,
    memmap: u64,
    reserve: u64,
) -> u64 {
    let freesize = present.saturating_sub(memmap).saturating_sub(reserve);
    let reads_present = era.at_least(6, 11)
        || (era.at_least(3, 8) && !era.at_least(3, 9))
        || (era.at_least(3, 8) && zone_type.is_highmem());
    if reads_present {
        present
    } else {
        freesize
    }
}

#[cfg(test)]
mod corpus_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};

    fn era(ma: u32, mi: u32) -> Era {
        Era::new(KernelVersion::new(ma, mi, 0), Arch::X86_64)
    }

    #[test]
    fn two_nodes_order_and_lines() {
        let nodes = [
            ZlNode {
                nid: 0,
                has_cpus: true,
                has_memory: true,
            },
            ZlNode {
                nid: 1,
                has_cpus: true,
                has_memory: true,
            },
        ];
        let d = |a: u32, b: u32| if a == b { 10 } else { 20 };
        let o = build_all_zonelists_order(&era(6, 6), &nodes, &d);
        assert_eq!(o, [(0, alloc::vec![0, 1]), (1, alloc::vec![1, 0])]);
        assert_eq!(
            fallback_order_line(1, &o[1].1),
            "Fallback order for Node 1: 1 0 "
        );
    }

    #[test]
    fn built_line_per_era() {
        let zones = [
            WmZone {
                nid: 0,
                zone_type: ZoneType::Dma,
                managed: 3912,
                present: 3998,
            },
            WmZone {
                nid: 0,
                zone_type: ZoneType::Dma32,
                managed: 410580,
                present: 417104,
            },
            WmZone {
                nid: 0,
                zone_type: ZoneType::Normal,
                managed: 0,
                present: 0,
            },
        ];
        let cfg = ZonelistConfig {
            numa: true,
            cma: true,
            memory_isolation: true,
        };
        let b = build_all_zonelists(&era(5, 4), &cfg, &zones, &[(0, alloc::vec![0])]);
        assert_eq!(
            b.lines,
            [
                "Built 1 zonelists, mobility grouping on.  Total pages: 414492",
                "Policy zone: DMA32"
            ]
        );
        let b = build_all_zonelists(&era(3, 13), &cfg, &zones, &[(0, alloc::vec![0])]);
        assert_eq!(
            b.lines[0],
            "Built 1 zonelists in Node order, mobility grouping on.  Total pages: 414492"
        );
    }
}
