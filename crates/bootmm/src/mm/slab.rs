// SPDX-License-Identifier: GPL-2.0-only
//! mm/slab.h and include/linux/slab.h: `struct slab` over the struct page of a slab's head
//! page, the cache flags, and the kmalloc size classes.
//!
//! DOC: from 5.17 ("mm: Split slab into its own type", Matthew Wilcox) a slab is its own type
//! that overlays `struct page`. Its fields sit where 6.6 puts them on x86_64:
//!
//! | offset | struct page           | struct slab                                      |
//! |--------|-----------------------|--------------------------------------------------|
//! | 0      | flags                 | `__page_flags` (PG_slab set on the head page)   |
//! | 8      | lru.next / compound_head | `slab_cache`                                  |
//! | 16     | lru.prev, mapping     | `slab_list`, or `next` + `slabs` on a CPU's partial list |
//! | 32     | index, private        | `freelist` + `counters` (the cmpxchg16b pair)    |
//! | 48     | _mapcount             | `__unused`                                       |
//! | 52     | _refcount             | `__page_refcount`                                |
//!
//! `counters` packs `inuse:16`, `objects:15` and `frozen:1`, low bits first. Before 5.17 the
//! same fields were members of struct page itself, at the same places.
//!
//! bootmm stores object addresses (freelists, free pointers inside objects) as kernel
//! virtual addresses, as the kernel does, so that a dump of simulated RAM shows what a
//! kernel's would. The links between its own structures (`slab_cache`, the lists) are host
//! pointers, as everywhere in bootmm's memmap (docs/divergences.md).

use core::mem::offset_of;

use crate::include::mm_types::{ListHead, Page};
use crate::mm::slub::alloc::KmemCache;

bitflags::bitflags! {
    /// `slab_flags_t` (include/linux/slab.h), 6.6 values.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct SlabFlags: u32 {
        /// `SLAB_CONSISTENCY_CHECKS` (slub_debug F).
        const SLAB_CONSISTENCY_CHECKS = 0x0000_0100;
        /// `SLAB_RED_ZONE` (Z).
        const SLAB_RED_ZONE = 0x0000_0400;
        /// `SLAB_POISON` (P).
        const SLAB_POISON = 0x0000_0800;
        /// `SLAB_KMALLOC` (6.6: a kmalloc cache).
        const SLAB_KMALLOC = 0x0000_1000;
        const SLAB_HWCACHE_ALIGN = 0x0000_2000;
        const SLAB_CACHE_DMA = 0x0000_4000;
        const SLAB_CACHE_DMA32 = 0x0000_8000;
        /// `SLAB_STORE_USER` (U).
        const SLAB_STORE_USER = 0x0001_0000;
        const SLAB_PANIC = 0x0004_0000;
        const SLAB_TYPESAFE_BY_RCU = 0x0008_0000;
        /// `SLAB_TRACE` (T).
        const SLAB_TRACE = 0x0020_0000;
        const SLAB_NOLEAKTRACE = 0x0080_0000;
        /// `SLAB_NO_MERGE` (6.5).
        const SLAB_NO_MERGE = 0x0100_0000;
        const SLAB_ACCOUNT = 0x0400_0000;
        const SLAB_RECLAIM_ACCOUNT = 0x0002_0000;
        const SLAB_NO_USER_FLAGS = 0x1000_0000;
        const SLAB_SKIP_KFENCE = 0x2000_0000;
        /// `__CMPXCHG_DOUBLE`: the slab's freelist and counters change with one cmpxchg16b.
        const __CMPXCHG_DOUBLE = 0x4000_0000;
        /// `__OBJECT_POISON`: the object itself is poisoned (POISON without ctor or RCU).
        const __OBJECT_POISON = 0x8000_0000;
    }
}

impl SlabFlags {
    /// `SLAB_DEBUG_FLAGS`: the flags that make `kmem_cache_debug` true.
    pub const SLAB_DEBUG_FLAGS: SlabFlags = SlabFlags::SLAB_RED_ZONE
        .union(SlabFlags::SLAB_POISON)
        .union(SlabFlags::SLAB_STORE_USER)
        .union(SlabFlags::SLAB_TRACE)
        .union(SlabFlags::SLAB_CONSISTENCY_CHECKS);
    /// `SLAB_NEVER_MERGE`.
    pub const SLAB_NEVER_MERGE: SlabFlags = SlabFlags::SLAB_RED_ZONE
        .union(SlabFlags::SLAB_POISON)
        .union(SlabFlags::SLAB_STORE_USER)
        .union(SlabFlags::SLAB_TRACE)
        .union(SlabFlags::SLAB_TYPESAFE_BY_RCU)
        .union(SlabFlags::SLAB_NOLEAKTRACE)
        .union(SlabFlags::SLAB_NO_MERGE);
    /// `SLAB_MERGE_SAME`: caches merge only when these agree.
    pub const SLAB_MERGE_SAME: SlabFlags = SlabFlags::SLAB_RECLAIM_ACCOUNT
        .union(SlabFlags::SLAB_CACHE_DMA)
        .union(SlabFlags::SLAB_CACHE_DMA32)
        .union(SlabFlags::SLAB_ACCOUNT);
}

/// `struct slab` (mm/slab.h), laid over the head page's `struct page`.
#[repr(C)]
#[derive(Debug)]
pub struct Slab {
    pub __page_flags: u64,
    /// The cache the slab belongs to (a host pointer).
    pub slab_cache: *mut KmemCache,
    /// `slab_list` on a node's partial (or, with debug, full) list; on a CPU's partial list
    /// the same words are `next` (`slab_list.next`) and `slabs` (the low half of
    /// `slab_list.prev`).
    pub slab_list: ListHead,
    /// The first free object's address (0: none).
    pub freelist: u64,
    /// `inuse:16, objects:15, frozen:1`.
    pub counters: u64,
    pub __unused: u32,
    pub __page_refcount: i32,
    pub memcg_data: u64,
}

const _: () = assert!(core::mem::size_of::<Slab>() == core::mem::size_of::<Page>());
const _: () = assert!(offset_of!(Slab, slab_list) == offset_of!(Page, lru) + 8);
const _: () = assert!(offset_of!(Slab, freelist) == offset_of!(Page, index));
const _: () = assert!(offset_of!(Slab, freelist) % 16 == 0);
const _: () = assert!(offset_of!(Slab, __page_refcount) == offset_of!(Page, refcount));

/// `slab->inuse`.
#[inline(always)]
pub const fn counters_inuse(c: u64) -> u32 {
    (c & 0xffff) as u32
}

/// `slab->objects`.
#[inline(always)]
pub const fn counters_objects(c: u64) -> u32 {
    ((c >> 16) & 0x7fff) as u32
}

/// `slab->frozen`.
#[inline(always)]
pub const fn counters_frozen(c: u64) -> bool {
    (c >> 31) & 1 != 0
}

/// The counters word of `inuse`, `objects`, `frozen`.
#[inline(always)]
pub const fn make_counters(inuse: u32, objects: u32, frozen: bool) -> u64 {
    (inuse as u64 & 0xffff) | ((objects as u64 & 0x7fff) << 16) | ((frozen as u64) << 31)
}

/// `KMALLOC_SHIFT_LOW` for SLUB on x86 (KMALLOC_MIN_SIZE 8).
pub const KMALLOC_SHIFT_LOW: u32 = 3;
/// `KMALLOC_SHIFT_HIGH` for SLUB: `PAGE_SHIFT + 1`.
pub const KMALLOC_SHIFT_HIGH: u32 = 13;
/// `KMALLOC_MAX_CACHE_SIZE`: larger kmallocs go to the page allocator.
pub const KMALLOC_MAX_CACHE_SIZE: u64 = 1 << KMALLOC_SHIFT_HIGH;
/// `KMALLOC_MIN_SIZE`.
pub const KMALLOC_MIN_SIZE: u32 = 1 << KMALLOC_SHIFT_LOW;
/// `ZERO_SIZE_PTR`: what `kmalloc(0)` returns.
pub const ZERO_SIZE_PTR: u64 = 16;

/// `ZERO_OR_NULL_PTR`.
#[inline(always)]
pub const fn zero_or_null_ptr(x: u64) -> bool {
    x <= ZERO_SIZE_PTR
}

/// `enum kmalloc_cache_type` (6.6, RANDOM_KMALLOC_CACHES off): the rows of
/// `kmalloc_caches[][]`. Which exist depends on the release and configuration
/// ([`crate::mm::slab_common::KmallocRules`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KmallocType {
    Normal = 0,
    /// `KMALLOC_RECLAIM` (4.20): __GFP_RECLAIMABLE, "kmalloc-rcl-".
    Reclaim = 1,
    /// `KMALLOC_DMA`: __GFP_DMA, "dma-kmalloc-".
    Dma = 2,
    /// `KMALLOC_CGROUP` (5.14): __GFP_ACCOUNT, "kmalloc-cg-".
    Cgroup = 3,
}

/// `NR_KMALLOC_TYPES` bootmm knows.
pub const NR_KMALLOC_TYPES: usize = 4;

impl KmallocType {
    pub const ALL: [KmallocType; NR_KMALLOC_TYPES] = [
        KmallocType::Normal,
        KmallocType::Reclaim,
        KmallocType::Dma,
        KmallocType::Cgroup,
    ];

    /// The name prefix `kmalloc_info[]` gives this type's caches.
    pub fn prefix(self) -> &'static str {
        match self {
            KmallocType::Normal => "kmalloc-",
            KmallocType::Reclaim => "kmalloc-rcl-",
            KmallocType::Dma => "dma-kmalloc-",
            KmallocType::Cgroup => "kmalloc-cg-",
        }
    }
}

/// `size_index[]` (mm/slab_common.c): the kmalloc index of sizes up to 192, by
/// `(size - 1) / 8`.
pub const SIZE_INDEX: [u8; 24] = [
    3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2,
];

/// `fls`.
#[inline(always)]
fn fls64(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// mm/slab_common.c `kmalloc_slab`'s index: `size_index[size_index_elem(size)]` up to 192,
/// `fls(size - 1)` above. `size` is 1 to `KMALLOC_MAX_CACHE_SIZE`.
#[inline(always)]
pub fn kmalloc_size_index(size: u64) -> u32 {
    debug_assert!((1..=KMALLOC_MAX_CACHE_SIZE).contains(&size));
    if size <= 192 {
        u32::from(SIZE_INDEX[((size - 1) / 8) as usize])
    } else {
        fls64(size - 1)
    }
}

/// `kmalloc_info[i].size`: the object size of kmalloc index `i` (1: 96, 2: 192, else `1 << i`).
pub const fn kmalloc_index_size(i: u32) -> u32 {
    match i {
        1 => 96,
        2 => 192,
        _ => 1 << i,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_the_kernels() {
        let class = |s| kmalloc_index_size(kmalloc_size_index(s));
        assert_eq!(class(1), 8);
        assert_eq!(class(8), 8);
        assert_eq!(class(9), 16);
        assert_eq!(class(24), 32);
        assert_eq!(class(65), 96);
        assert_eq!(class(96), 96);
        assert_eq!(class(97), 128);
        assert_eq!(class(129), 192);
        assert_eq!(class(193), 256);
        assert_eq!(class(4097), 8192);
        assert_eq!(class(8192), 8192);
        for s in 1..=8192u64 {
            let c = u64::from(class(s));
            assert!(c >= s, "{s} in {c}");
        }
    }

    #[test]
    fn counters_pack_low_bits_first() {
        let c = make_counters(5, 32, true);
        assert_eq!(c, 5 | (32 << 16) | (1 << 31));
        assert_eq!(counters_inuse(c), 5);
        assert_eq!(counters_objects(c), 32);
        assert!(counters_frozen(c));
        assert!(!counters_frozen(make_counters(0xffff, 0x7fff, false)));
    }
}
