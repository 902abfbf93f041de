// SPDX-License-Identifier: GPL-2.0-only
//! tools/mm/slabinfo.c (tools/vm/ before 6.0): the SLUB summary `slabinfo` prints with no
//! options, from what `/sys/kernel/slab/<cache>/` shows.
//!
//! DOC: one line per cache with slabs (`-z` shows the empty ones too), sorted by name
//! ignoring case: the objects in use (`objects`: all objects minus the free ones on the
//! node partial lists, so free objects of CPU slabs count as used, as in /proc/slabinfo),
//! the object size, the memory the slabs take (decimal K/M/G with one truncated decimal),
//! `slabs - cpu_slabs / partial / cpu_slabs` (`cpu_slabs` counts each CPU's CPU slab and
//! the slabs on its partial list), objects per slab, order, the partial share, the
//! efficiency (object bytes over slab bytes) and the flags (`*` aliases, `d` DMA, `A`
//! hardware-cache aligned, `P` poison, `a` reclaimable, `Z` red zone, `F` sanity checks,
//! `U` store user, `T` trace).
//!
//! Merged caches keep their own name here (the tool shows a `:`-named unique id for a cache
//! with several aliases; bootmm has no sysfs to name them; docs/divergences.md).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::kernel::Kernel;
use crate::mm::slab::SlabFlags;

/// One cache as `slabcache()` sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCache {
    pub name: String,
    pub objects: u64,
    pub object_size: u32,
    pub slabs: u64,
    pub partial: u64,
    pub cpu_slabs: u64,
    pub objs_per_slab: u32,
    pub order: u32,
    pub aliases: u32,
    pub flags: SlabFlags,
}

impl ToolCache {
    /// `slab_size(s)`: the bytes the slabs take.
    pub fn slab_size(&self) -> u64 {
        self.slabs * (4096u64 << self.order)
    }

    /// The `Flg` column.
    pub fn flag_letters(&self) -> String {
        let mut f = String::new();
        let has = |x: SlabFlags| self.flags.contains(x);
        if self.aliases != 0 {
            f.push('*');
        }
        for (x, c) in [
            (SlabFlags::SLAB_CACHE_DMA, 'd'),
            (SlabFlags::SLAB_HWCACHE_ALIGN, 'A'),
            (SlabFlags::SLAB_POISON, 'P'),
            (SlabFlags::SLAB_RECLAIM_ACCOUNT, 'a'),
            (SlabFlags::SLAB_RED_ZONE, 'Z'),
            (SlabFlags::SLAB_CONSISTENCY_CHECKS, 'F'),
            (SlabFlags::SLAB_STORE_USER, 'U'),
            (SlabFlags::SLAB_TRACE, 'T'),
        ] {
            if has(x) {
                f.push(c);
            }
        }
        f
    }
}

/// `store_size`: decimal K/M/G with one truncated decimal above 1000 bytes.
pub fn store_size(value: u64) -> String {
    let (div, suffix) = if value > 1_000_000_000 {
        (100_000_000, "G")
    } else if value > 1_000_000 {
        (100_000, "M")
    } else if value > 1000 {
        (100, "K")
    } else {
        (1, "")
    };
    let v = value / div;
    let mut s = alloc::format!("{v}{suffix}");
    if div != 1 {
        // memmove the last digit and the suffix right, a point before the last digit.
        let digits = s.len() - 1;
        s.insert(digits - 1, '.');
    }
    s
}

/// The caches as the tool reads them from sysfs. Needs the kernel exclusively: the
/// `cpu_slabs` count reads every CPU's `kmem_cache_cpu`.
pub fn read_slab_dir(k: &mut Kernel) -> Vec<ToolCache> {
    let k: &Kernel = k;
    let mut v = Vec::new();
    for c in k.slab.caches() {
        // SAFETY: the kernel is held exclusively, so no CPU runs: the listed caches and
        // their per-CPU state are stable.
        v.push(unsafe { crate::mm::slub::alloc::sysfs_view(k, c) });
    }
    v.sort_by_key(|c| c.name.to_ascii_lowercase());
    v
}

/// `slabinfo`'s default report (`first_line` and `slabcache` for each cache with slabs, or
/// every cache with `show_empty`).
pub fn report(caches: &[ToolCache], show_empty: bool) -> String {
    let mut out = String::new();
    let mut first = true;
    for s in caches {
        if !show_empty && s.slabs == 0 {
            continue;
        }
        if first {
            out.push_str("Name                   Objects Objsize           Space Slabs/Part/Cpu  O/S O %Fr %Ef Flg\n");
            first = false;
        }
        let dist = alloc::format!(
            "{}/{}/{}",
            s.slabs.saturating_sub(s.cpu_slabs),
            s.partial,
            s.cpu_slabs
        );
        // "100" for a cache without slabs, as the tool prints it.
        let fr = (s.partial * 100).checked_div(s.slabs).unwrap_or(100);
        let ef = (s.objects * u64::from(s.object_size) * 100)
            .checked_div(s.slab_size())
            .unwrap_or(100);
        let _ = writeln!(
            out,
            "{:<21} {:>8} {:>7} {:>15} {:>14} {:>4} {:>1} {:>3} {:>3} {}",
            s.name,
            s.objects,
            s.object_size,
            store_size(s.slab_size()),
            dist,
            s.objs_per_slab,
            s.order,
            fr,
            ef,
            s.flag_letters()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_the_tool_prints_them() {
        assert_eq!(store_size(1000), "1000");
        assert_eq!(store_size(1001), "1.0K");
        assert_eq!(store_size(123_456), "123.4K");
        assert_eq!(store_size(32_768), "32.7K");
        assert_eq!(store_size(2_500_000), "2.5M");
        assert_eq!(store_size(24_800_000), "24.8M");
        assert_eq!(store_size(3_000_000_001), "3.0G");
    }
}
