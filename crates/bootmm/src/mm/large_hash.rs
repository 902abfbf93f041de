//! `alloc_large_system_hash` (mm/page_alloc.c up to 6.2, mm/mm_init.c from 6.3) and the VFS
//! tables sized with it (fs/dcache.c, fs/inode.c, fs/namespace.c; kernel/pid.c before 4.15).
//!
//! Boot-time hash tables are sized from the amount of low memory (`nr_kernel_pages`, one
//! bucket per 2^scale bytes, scaled down further above 64 GiB), rounded to a power of two and
//! capped at 1/16 of all memory. Early tables come from memblock; later ones from the buddy
//! allocator, or vmalloc when they are too big for one buddy block or NUMA-distributed
//! (`hashdist`). bootmm computes the size, the boot line and which allocator the memory comes
//! from; the caller takes the memory. An allocation failure (the kernel then halves the table
//! and retries) is the caller's to report.

use alloc::string::String;

use crate::era::Era;

/// `HASH_EARLY`: allocate from memblock (before the buddy allocator runs).
pub const HASH_EARLY: u32 = 0x1;
/// `HASH_SMALL` (before 4.15): a table allowed to be smaller than `1 << *shift` is not.
pub const HASH_SMALL: u32 = 0x2;
/// `HASH_ZERO` (4.14+): zeroed memory.
pub const HASH_ZERO: u32 = 0x4;

/// `ADAPT_SCALE_BASE` (64 GiB) in 4 KiB pages.
const ADAPT_SCALE_NPAGES: u64 = (64u64 << 30) >> 12;
const PAGE_SHIFT: u32 = 12;
const PAGE_SIZE: u64 = 4096;
/// PMD_SIZE: the smallest huge vmalloc mapping on x86.
const PMD_SIZE: u64 = 2 << 20;

/// The arguments of one `alloc_large_system_hash` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashRequest<'a> {
    pub tablename: &'a str,
    pub bucketsize: u64,
    /// From the command line (`dhash_entries=` …); 0 = size from memory.
    pub numentries: u64,
    pub scale: u32,
    pub flags: u32,
    /// `*_hash_shift` on entry (read by HASH_SMALL).
    pub hash_shift: u32,
    pub low_limit: u64,
    pub high_limit: u64,
}

/// Where the table's memory comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashMemory {
    /// `memblock_alloc(size, SMP_CACHE_BYTES)` (HASH_EARLY).
    Memblock,
    /// `alloc_pages_exact(size)` from the buddy allocator ("linear").
    Pages,
    /// `vmalloc` / `vmalloc_huge` (6.1+ may map it with 2 MiB pages: "vmalloc hugepage").
    Vmalloc { huge: bool },
}

/// The table `alloc_large_system_hash` settles on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashTable {
    pub log2qty: u32,
    /// Bytes: `bucketsize << log2qty`.
    pub size: u64,
    pub memory: HashMemory,
    /// The "%s hash table entries: …" line.
    pub line: String,
}

impl HashTable {
    pub fn entries(&self) -> u64 {
        1 << self.log2qty
    }
}

fn roundup_pow_of_two(x: u64) -> u64 {
    x.max(1).next_power_of_two()
}

fn ilog2(x: u64) -> u32 {
    63 - x.max(1).leading_zeros()
}

/// `get_order(size)`.
pub fn get_order(size: u64) -> u32 {
    let pages = size.div_ceil(PAGE_SIZE).max(1);
    ilog2(roundup_pow_of_two(pages))
}

/// The machine facts the sizing reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashEnv {
    /// `nr_kernel_pages` (low memory) and `nr_all_pages` from `free_area_init`.
    pub nr_kernel_pages: u64,
    pub nr_all_pages: u64,
    /// `hashdist` (see [`hashdist`]).
    pub hashdist: bool,
    pub online_nodes: u32,
}

/// `hashdist`: HASHDIST_DEFAULT is on for 64-bit NUMA kernels; from 5.2 it is turned off
/// when fewer than two nodes have memory (`fixup_hashdist`). `hashdist=` overrides.
pub fn hashdist(era: &Era, numa: bool, nodes_with_memory: u32, cmdline: Option<bool>) -> bool {
    let mut h = cmdline.unwrap_or(numa && era.is_64bit());
    if era.at_least(5, 2) && nodes_with_memory < 2 {
        h = false;
    }
    h
}

/// `alloc_large_system_hash` (mm/mm_init.c; mm/page_alloc.c before 6.3): the table size, the
/// allocator it comes from and the boot line, per era:
/// - adaptive scale above 64 GiB of low memory when `high_limit` is 0 (64-bit, 4.12+);
/// - HASH_SMALL (before 4.15): at least `1 << hash_shift` entries;
/// - the line gains ", linear"/", vmalloc" in 5.2 and "vmalloc hugepage" in 6.1 (table per
///   online node ≥ 2 MiB; 6.18 compares the whole table), and prints `get_order(size)`
///   instead of `ilog2(size) - PAGE_SHIFT` from 6.18.
pub fn alloc_large_system_hash(era: &Era, req: &HashRequest<'_>, env: &HashEnv) -> HashTable {
    let mut numentries = req.numentries;
    let mut scale = req.scale;
    if numentries == 0 {
        numentries = env.nr_kernel_pages.div_ceil(256) * 256;
        if era.is_64bit() && era.at_least(4, 12) && req.high_limit == 0 {
            let mut adapt = ADAPT_SCALE_NPAGES;
            while adapt < numentries {
                scale += 1;
                adapt <<= 2;
            }
        }
        if scale > PAGE_SHIFT {
            numentries >>= scale - PAGE_SHIFT;
        } else {
            numentries <<= PAGE_SHIFT - scale;
        }
        // HASH_SMALL's floor replaces the one-page floor (an `else if` in the kernel): a
        // small PID hash takes less than a page ("order: -1").
        if req.flags & HASH_SMALL != 0 && !era.at_least(4, 15) {
            if numentries >> req.hash_shift == 0 {
                numentries = 1 << req.hash_shift;
            }
        } else if numentries * req.bucketsize < PAGE_SIZE {
            numentries = PAGE_SIZE / req.bucketsize.max(1);
        }
    }
    numentries = roundup_pow_of_two(numentries);
    let mut max = req.high_limit;
    if max == 0 {
        max = ((env.nr_all_pages << PAGE_SHIFT) >> 4) / req.bucketsize.max(1);
    }
    max = max.min(0x8000_0000);
    numentries = numentries.max(req.low_limit).min(max).max(1);
    let log2qty = ilog2(numentries);
    let size = req.bucketsize << log2qty;
    // MAX_ORDER - 1 = 10 on x86 in every era.
    let memory = if req.flags & HASH_EARLY != 0 {
        HashMemory::Memblock
    } else if get_order(size) > 10 || env.hashdist {
        let per_node = if era.at_least(6, 18) {
            size
        } else {
            size / u64::from(env.online_nodes.max(1))
        };
        HashMemory::Vmalloc {
            huge: era.at_least(6, 1) && per_node >= PMD_SIZE,
        }
    } else {
        HashMemory::Pages
    };
    let order: i64 = if era.at_least(6, 18) {
        i64::from(get_order(size))
    } else {
        i64::from(ilog2(size)) - i64::from(PAGE_SHIFT)
    };
    let mut line = alloc::format!(
        "{} hash table entries: {} (order: {}, {} bytes",
        req.tablename,
        1u64 << log2qty,
        order,
        size
    );
    if era.at_least(5, 2) {
        line.push_str(match memory {
            HashMemory::Memblock | HashMemory::Pages => ", linear",
            HashMemory::Vmalloc { huge: false } => ", vmalloc",
            HashMemory::Vmalloc { huge: true } => ", vmalloc hugepage",
        });
    }
    line.push(')');
    HashTable {
        log2qty,
        size,
        memory,
        line,
    }
}

/// `HASH_ZERO` for the VFS tables: from 4.14 `alloc_large_system_hash` zeroes the table
/// itself when asked (believed "mm: zero hash tables in allocator"), and the callers ask.
fn hash_zero(era: &Era) -> u32 {
    if era.at_least(4, 14) {
        HASH_ZERO
    } else {
        0
    }
}

/// One of the VFS/PID boot tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfsHash {
    pub table: HashTable,
    /// Allocated from memblock during early boot (`vfs_caches_init_early`, `pidhash_init`);
    /// otherwise during `vfs_caches_init` / `mnt_init`, after the buddy allocator is up.
    pub early: bool,
}

/// Command-line overrides (`dhash_entries=`, `ihash_entries=`, `mhash_entries=`,
/// `mphash_entries=`); 0 = not given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VfsHashParams {
    pub dhash_entries: u64,
    pub ihash_entries: u64,
    pub mhash_entries: u64,
    pub mphash_entries: u64,
}

/// The PID hash (kernel/pid.c `pidhash_init`, before 4.15): `hlist_head` buckets, scale 18,
/// early and small, at most 4096 entries, at least 16.
pub fn pidhash_init(era: &Era, env: &HashEnv) -> Option<VfsHash> {
    if era.at_least(4, 15) {
        return None;
    }
    let req = HashRequest {
        tablename: "PID",
        bucketsize: if era.is_64bit() { 8 } else { 4 },
        numentries: 0,
        scale: 18,
        flags: HASH_EARLY | HASH_SMALL,
        hash_shift: 4,
        low_limit: 0,
        high_limit: 4096,
    };
    Some(VfsHash {
        table: alloc_large_system_hash(era, &req, env),
        early: true,
    })
}

/// `dcache_init_early`/`dcache_init` and `inode_init_early`/`inode_init` (fs/dcache.c,
/// fs/inode.c): the Dentry cache (scale 13) and Inode-cache (scale 14) tables of pointer-sized
/// buckets; allocated early from memblock unless `hashdist`, then later with vmalloc.
pub fn vfs_caches_hashes(era: &Era, env: &HashEnv, p: &VfsHashParams) -> [VfsHash; 2] {
    let ptr = if era.is_64bit() { 8 } else { 4 };
    let early = !env.hashdist;
    let flags = if early { HASH_EARLY } else { 0 } | hash_zero(era);
    let mk = |name: &'static str, n: u64, scale: u32| VfsHash {
        table: alloc_large_system_hash(
            era,
            &HashRequest {
                tablename: name,
                bucketsize: ptr,
                numentries: n,
                scale,
                flags,
                hash_shift: 0,
                low_limit: 0,
                high_limit: 0,
            },
            env,
        ),
        early,
    };
    [
        mk("Dentry cache", p.dhash_entries, 13),
        mk("Inode-cache", p.ihash_entries, 14),
    ]
}

/// Whether `mnt_init` sizes the mount hashes with `alloc_large_system_hash` (3.14+, commit
/// 0818bf27c05b, together with the 3.15 Mountpoint-cache), including the distribution
/// kernels that carry the backport: Ubuntu 3.13 (`3.13.0-N-flavour`) and RHEL 7 (`.el7`).
pub fn mnt_hash_is_large_system_hash(era: &Era) -> bool {
    era.at_least(3, 14)
        || era.release.contains(".el7")
        || (era.at_least(3, 13) && era.release.starts_with("3.13.0-"))
}

/// The mount hashes of `mnt_init` (fs/namespace.c). Before 3.14 the Mount-cache was one page
/// of `list_head`s printed as "Mount-cache hash table entries: %d"; from 3.14 it is an
/// `alloc_large_system_hash` table of `hlist_head`s (scale 19), joined by the
/// Mountpoint-cache from 3.15. Returns the tables and, before 3.14, the one-page line.
pub fn mnt_init_hashes(
    era: &Era,
    env: &HashEnv,
    p: &VfsHashParams,
) -> (alloc::vec::Vec<VfsHash>, Option<String>) {
    let ptr = if era.is_64bit() { 8 } else { 4 };
    let backport = mnt_hash_is_large_system_hash(era);
    if !backport {
        let n = PAGE_SIZE / (2 * ptr);
        return (
            alloc::vec::Vec::new(),
            Some(alloc::format!("Mount-cache hash table entries: {n}")),
        );
    }
    let flags = hash_zero(era);
    let mk = |name: &'static str, n: u64| VfsHash {
        table: alloc_large_system_hash(
            era,
            &HashRequest {
                tablename: name,
                bucketsize: ptr,
                numentries: n,
                scale: 19,
                flags,
                hash_shift: 0,
                low_limit: 0,
                high_limit: 0,
            },
            env,
        ),
        early: false,
    };
    let mut v = alloc::vec![mk("Mount-cache", p.mhash_entries)];
    if era.at_least(3, 15) || backport {
        v.push(mk("Mountpoint-cache", p.mphash_entries));
    }
    (v, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::era::{Arch, KernelVersion};

    fn era(ma: u32, mi: u32) -> Era {
        Era::new(KernelVersion::new(ma, mi, 0), Arch::X86_64)
    }

    #[test]
    fn arch_5_3_sixteen_gib() {
        let env = HashEnv {
            nr_kernel_pages: 4026568,
            nr_all_pages: 4026568,
            hashdist: false,
            online_nodes: 1,
        };
        let [d, i] = vfs_caches_hashes(&era(5, 3), &env, &VfsHashParams::default());
        assert_eq!(
            d.table.line,
            "Dentry cache hash table entries: 2097152 (order: 12, 16777216 bytes, linear)"
        );
        assert_eq!(
            i.table.line,
            "Inode-cache hash table entries: 1048576 (order: 11, 8388608 bytes, linear)"
        );
        assert_eq!(d.table.memory, HashMemory::Memblock);
    }

    #[test]
    fn old_mount_cache_is_one_page() {
        let env = HashEnv {
            nr_kernel_pages: 1 << 20,
            nr_all_pages: 1 << 20,
            hashdist: true,
            online_nodes: 1,
        };
        let (v, line) = mnt_init_hashes(&era(3, 13), &env, &VfsHashParams::default());
        assert!(v.is_empty());
        assert_eq!(line.unwrap(), "Mount-cache hash table entries: 256");
        let i386 = Era::new(KernelVersion::new(3, 2, 0), Arch::I386 { pae: true });
        let (_, line) = mnt_init_hashes(&i386, &env, &VfsHashParams::default());
        assert_eq!(line.unwrap(), "Mount-cache hash table entries: 512");
    }

    #[test]
    fn pid_hash_is_capped() {
        let env = HashEnv {
            nr_kernel_pages: 2_000_000,
            nr_all_pages: 2_000_000,
            hashdist: false,
            online_nodes: 1,
        };
        let p = pidhash_init(&era(3, 13), &env).unwrap();
        assert_eq!(
            p.table.line,
            "PID hash table entries: 4096 (order: 3, 32768 bytes)"
        );
        assert!(pidhash_init(&era(4, 15), &env).is_none());
    }

    #[test]
    fn get_order_rounds_up() {
        assert_eq!(get_order(786432), 8);
        assert_eq!(get_order(4096), 0);
        assert_eq!(get_order(2048), 0);
    }
}
