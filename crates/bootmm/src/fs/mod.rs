//! `fs/`: the VFS hash tables sized at boot (fs/dcache.c, fs/inode.c, fs/namespace.c), and
//! the /proc files (`proc`).
//!
//! The dentry and inode hashes are sized from memory by `alloc_large_system_hash`; without
//! `hashdist` they are allocated early from memblock (`vfs_caches_init_early`), otherwise
//! later with vmalloc. The mount hashes come later from `mnt_init`. bootmm takes the memory
//! where the kernel takes it; a vmalloc'd table is backed by order-0 pages from the buddy
//! allocator, as vmalloc backs it, but is not mapped (vmalloc comes later in the model).

pub mod proc;

use alloc::string::ToString;
use alloc::vec::Vec;

use crate::include::gfp::{gfp_constant, Gfp};
use crate::include::{PAGE_SIZE, SMP_CACHE_BYTES};
use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::large_hash::{self, HashEnv, HashMemory, VfsHash, VfsHashParams};
use crate::pr_info;

fn hash_env(k: &Kernel) -> Option<HashEnv> {
    let layout = k.zones.as_ref()?;
    let cfg = k.machine.kernel_config();
    let nodes_with_memory = layout
        .nodes
        .iter()
        .filter(|n| n.node_present_pages != 0)
        .count() as u32;
    let cmdline = crate::klib::cmdline::split_args(&k.machine.cmdline)
        .into_iter()
        .filter(|a| a.param == "hashdist")
        .filter_map(|a| a.val.and_then(|v| v.parse::<u32>().ok()))
        .map(|v| v != 0)
        .next_back();
    Some(HashEnv {
        nr_kernel_pages: layout.nr_kernel_pages,
        nr_all_pages: layout.nr_all_pages,
        hashdist: large_hash::hashdist(&k.era, cfg.numa, nodes_with_memory, cmdline),
        online_nodes: k.numa.online.len().max(1) as u32,
    })
}

fn hash_params(k: &Kernel) -> VfsHashParams {
    let mut p = VfsHashParams::default();
    for a in crate::klib::cmdline::split_args(&k.machine.cmdline) {
        let v = a
            .val
            .and_then(|v| crate::klib::cmdline::memparse_checked(v).ok())
            .map(|(v, _)| v);
        match (a.param, v) {
            ("dhash_entries", Some(v)) => p.dhash_entries = v,
            ("ihash_entries", Some(v)) => p.ihash_entries = v,
            ("mhash_entries", Some(v)) => p.mhash_entries = v,
            ("mphash_entries", Some(v)) => p.mphash_entries = v,
            _ => {}
        }
    }
    p
}

/// Take a table's memory where `alloc_large_system_hash` takes it, then print its line.
fn place(k: &mut Kernel, h: &VfsHash) -> Result<(), BootError> {
    let t = &h.table;
    match t.memory {
        HashMemory::Memblock => {
            // 2.6: alloc_bootmem_nopanic, from the bitmap.
            let p = if crate::mm::nobootmem::bootmem_live(k) {
                crate::mm::nobootmem::alloc_bootmem(k, t.size, SMP_CACHE_BYTES)
                    .map_err(BootError::NoMemory)?
            } else {
                k.memblock
                    .memblock_alloc(t.size, SMP_CACHE_BYTES)
                    .map_err(|e| BootError::NoMemory(e.to_string()))?
                    .map(|p| p.0)
            };
            if p.is_none() {
                return Err(BootError::NoMemory(alloc::format!(
                    "Failed to allocate {} bytes for the {}",
                    t.size,
                    t.line.split(" hash table").next().unwrap_or("hash table")
                )));
            }
        }
        HashMemory::Pages | HashMemory::Vmalloc { .. } => {
            let gfp = gfp_constant(&k.era, "GFP_ATOMIC").unwrap_or(Gfp::empty());
            let pages = t.size.div_ceil(PAGE_SIZE);
            if let HashMemory::Pages = t.memory {
                // alloc_pages_exact: one block of get_order(size), the tail given back.
                let order = pages.next_power_of_two().trailing_zeros();
                if let Ok(Some(page)) = crate::mm::page_alloc::alloc_pages(k, gfp, order) {
                    let pfn = crate::mm::page_alloc::page_to_pfn(k, page);
                    for i in pages..(1u64 << order) {
                        if let Some(p) = pfn.and_then(|f| k.sparse.pfn_to_page(f + i)) {
                            let _ = crate::mm::page_alloc::__free_pages(k, p, 0);
                        }
                    }
                }
            } else {
                for _ in 0..pages {
                    if !matches!(crate::mm::page_alloc::alloc_pages(k, gfp, 0), Ok(Some(_))) {
                        break;
                    }
                }
            }
        }
    }
    pr_info!(k.printk, "{}\n", t.line);
    Ok(())
}

/// fs/dcache.c: `vfs_caches_init_early` → `dcache_init_early`, `inode_init_early`: the dentry
/// and inode hashes from memblock, unless `hashdist` defers them to `vfs_caches_init`.
pub fn vfs_caches_init_early(k: &mut Kernel) -> Result<(), BootError> {
    let Some(env) = hash_env(k) else {
        return Ok(());
    };
    let _t = k.trace.enter("vfs_caches_init_early", "fs/dcache.c");
    if let Some(pid) = large_hash::pidhash_init(&k.era, &env) {
        place(k, &pid)?;
    }
    let p = hash_params(k);
    for h in large_hash::vfs_caches_hashes(&k.era, &env, &p) {
        if h.early {
            place(k, &h)?;
        }
    }
    Ok(())
}

/// fs/dcache.c: `vfs_caches_init` → the late dentry/inode hashes (with `hashdist`) and
/// fs/namespace.c `mnt_init` (the Mount-cache and Mountpoint-cache hashes).
pub fn vfs_caches_init(k: &mut Kernel) -> Result<(), BootError> {
    let Some(env) = hash_env(k) else {
        return Ok(());
    };
    let _t = k.trace.enter("vfs_caches_init", "fs/dcache.c");
    let p = hash_params(k);
    let late: Vec<VfsHash> = large_hash::vfs_caches_hashes(&k.era, &env, &p)
        .into_iter()
        .filter(|h| !h.early)
        .collect();
    for h in &late {
        place(k, h)?;
    }
    let _t2 = k.trace.enter("mnt_init", "fs/namespace.c");
    let (tables, one_page) = large_hash::mnt_init_hashes(&k.era, &env, &p);
    if let Some(line) = one_page {
        pr_info!(k.printk, "{line}\n");
    }
    for h in &tables {
        place(k, h)?;
    }
    Ok(())
}
