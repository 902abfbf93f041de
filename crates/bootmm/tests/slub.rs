// SPDX-License-Identifier: GPL-2.0-only
//! SLUB end to end: kmalloc/kfree/krealloc on a booted kernel, objects that hold their
//! bytes, every slab page back in the buddy allocator after freeing and shrinking, CPUs on
//! threads freeing each other's objects, and slub_kunit's corruption cases.

use std::collections::BTreeMap;

use bootmm::era::{Era, KernelVersion};
use bootmm::include::gfp::{gfp_constant, Gfp};
use bootmm::mm::slab::SlabFlags;
use bootmm::mm::slab_common::{kmem_cache_shrink_all, validate_slab_cache};
use bootmm::{init::main::start_kernel, Kernel, Machine, VirtAddr};
use proptest::prelude::*;

fn boot(version: (u32, u32), mem: u64, cpus: u32) -> Kernel {
    let mut m = Machine::qemu(mem, cpus).unwrap();
    m.era = Era::new(KernelVersion::new(version.0, version.1, 0), m.era.arch);
    let mut k = Kernel::new(m).unwrap();
    start_kernel(&mut k).unwrap();
    k
}

fn gfp(k: &Kernel, name: &str) -> Gfp {
    gfp_constant(&k.era, name).unwrap()
}

/// A copy of the `len` bytes at kernel address `va`.
fn peek(k: &Kernel, va: u64, len: u64) -> Vec<u8> {
    let pa = k.phys.pa(VirtAddr(va));
    let p = k.phys.host_ptr(pa, len).unwrap();
    // SAFETY: the range is simulated RAM; the tests own the objects they look at and no
    // other thread writes them meanwhile.
    unsafe { std::slice::from_raw_parts(p.as_ptr(), len as usize) }.to_vec()
}

/// `memset(va, byte, len)`.
fn fill(k: &Kernel, va: u64, byte: u8, len: u64) {
    k.phys.memset(k.phys.pa(VirtAddr(va)), byte, len).unwrap();
}

/// Whether all `len` bytes at `va` are `byte`.
fn all(k: &Kernel, va: u64, len: u64, byte: u8) -> bool {
    peek(k, va, len).iter().all(|&b| b == byte)
}

/// Free pages with every pcp list drained and every slab cache shrunk.
fn settled_free(k: &mut Kernel) -> u64 {
    kmem_cache_shrink_all(k);
    k.drain_all_pages();
    bootmm::mm::page_alloc::nr_free_pages(k)
}

#[test]
fn kmalloc_caches_have_the_kernels_geometry_after_boot() {
    let k = boot((6, 6), 512 << 20, 8);
    let info = bootmm::mm::slab_common::get_slabinfo(&k);
    let get = |n: &str| {
        info.iter()
            .find(|i| i.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    // 8 CPUs: min_objects 20 (as the shared 8-CPU slabinfo files show).
    assert_eq!(
        (get("kmalloc-8").objperslab, get("kmalloc-8").pagesperslab),
        (512, 1)
    );
    assert_eq!(
        (
            get("kmalloc-256").objperslab,
            get("kmalloc-256").pagesperslab
        ),
        (32, 2)
    );
    assert_eq!(
        (
            get("kmalloc-192").objperslab,
            get("kmalloc-192").pagesperslab
        ),
        (21, 1)
    );
    assert_eq!(
        (get("kmalloc-8k").objperslab, get("kmalloc-8k").pagesperslab),
        (4, 8)
    );
    assert!(info.iter().any(|i| i.name == "kmalloc-rcl-96"));
    assert!(info.iter().any(|i| i.name == "dma-kmalloc-1k"));
    // The boot caches come last, kmem_cache after kmem_cache_node, as in real files.
    assert_eq!(info[info.len() - 2].name, "kmem_cache_node");
    assert_eq!(info.last().unwrap().name, "kmem_cache");
    let text = bootmm::mm::slab_common::slabinfo(&k);
    assert!(text.starts_with("slabinfo - version: 2.1\n# name "));
    assert!(text.contains(
        "kmalloc-256            0      0    256   32    2 : tunables    0    0    0 : slabdata      0      0      0\n"
    ));
    // 4.18: long names, no reclaimable or cgroup caches, DMA made last starting with 96.
    let k = boot((4, 18), 256 << 20, 4);
    let names: Vec<String> = bootmm::mm::slab_common::get_slabinfo(&k)
        .into_iter()
        .map(|i| i.name)
        .collect();
    // vmalloc_init's vmap_area cache is the newest (64 bytes before 6.3, not merged: the
    // kmalloc caches are unmergeable with their usercopy regions).
    assert_eq!(names[0], "vmap_area");
    assert_eq!(names[1], "dma-kmalloc-8192");
    assert_eq!(names[12], "dma-kmalloc-192");
    assert_eq!(names[13], "dma-kmalloc-96");
    assert!(!names
        .iter()
        .any(|n| n.contains("rcl") || n.contains("-cg-")));
}

#[test]
fn objects_keep_their_bytes_and_every_slab_page_comes_back() {
    // 6.6's frozen CPU-partial slabs and 6.8's unfrozen ones.
    for v in [(6, 6), (6, 12)] {
        keep_bytes_and_pages(v);
    }
}

fn keep_bytes_and_pages(v: (u32, u32)) {
    let mut k = boot(v, 256 << 20, 2);
    let g = gfp(&k, "GFP_KERNEL");
    let before = settled_free(&mut k);
    let slab_before = k.slab.slab_bytes();
    let mut live: BTreeMap<u64, (u64, u8)> = BTreeMap::new();
    let mut seed = 12345u64;
    for i in 0..20_000u64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = 1 + (seed >> 33) % 9000;
        if i % 3 == 2 && !live.is_empty() {
            let (&p, &(len, byte)) = live
                .iter()
                .nth((seed % live.len() as u64) as usize)
                .unwrap();
            assert!(all(&k, p, len, byte), "object {p:#x} changed");
            live.remove(&p);
            k.kfree(p).unwrap();
            continue;
        }
        let p = k.kmalloc(size, g).unwrap();
        assert_ne!(p, 0);
        assert!(bootmm::mm::slab_common::ksize(&k, p) >= size);
        // No object handed out twice: nothing live overlaps it.
        if let Some((&q, &(ql, _))) = live.range(..=p).next_back() {
            assert!(q + ql <= p, "{p:#x} overlaps {q:#x}");
        }
        if let Some((&q, _)) = live.range(p..).next() {
            assert!(p + size <= q, "{p:#x} overlaps {q:#x}");
        }
        let byte = (i % 251) as u8;
        fill(&k, p, byte, size);
        live.insert(p, (size, byte));
    }
    for (&p, &(len, byte)) in &live {
        assert!(all(&k, p, len, byte));
        k.kfree(p).unwrap();
    }
    assert_eq!(settled_free(&mut k), before);
    // The slab counters went back too, and meminfo shows them.
    assert_eq!(k.slab.slab_bytes(), slab_before);
    let (r, u) = slab_before;
    assert!(bootmm::fs::proc::meminfo(&k)
        .lines()
        .any(|l| l == format!("Slab:           {:>8} kB", (r + u) >> 10)));
}

#[test]
fn kfree_of_what_is_no_object_is_refused() {
    let mut k = boot((6, 6), 128 << 20, 1);
    assert!(k.kfree(0).is_ok());
    assert!(k.kfree(16).is_ok());
    assert!(k.kfree(0x1234_5678).is_err());
    let g = gfp(&k, "GFP_KERNEL");
    let page = bootmm::mm::page_alloc::__get_free_pages(&mut k, g, 0).unwrap();
    assert!(k.kfree(page).is_err());
    assert_eq!(k.kmalloc(0, g).unwrap(), 16);
    // A large kmalloc is compound pages counted as slab memory.
    let big = k.kmalloc(100_000, g).unwrap();
    assert_eq!(bootmm::mm::slab_common::ksize(&k, big), 128 << 10);
    k.kfree(big).unwrap();
}

#[test]
fn cpus_on_threads_free_each_others_objects() {
    for v in [(6, 6), (6, 12)] {
        cross_cpu_frees(v);
    }
}

fn cross_cpu_frees(v: (u32, u32)) {
    let mut k = boot(v, 512 << 20, 4);
    k.smp_init().unwrap();
    let before = settled_free(&mut k);
    let g = gfp(&k, "GFP_KERNEL");
    let kr = &k;
    let (tx, rx): (Vec<_>, Vec<_>) = (0..4).map(|_| std::sync::mpsc::channel::<u64>()).unzip();
    std::thread::scope(|s| {
        for (id, rx) in rx.into_iter().enumerate() {
            let txs = tx.clone();
            s.spawn(move || {
                let cpu = kr.cpu(id as u32).unwrap();
                let mut mine = Vec::new();
                for i in 0..50_000u64 {
                    let size = [8, 64, 192, 512, 4096][(i % 5) as usize];
                    let p = cpu.kmalloc(size, g).unwrap();
                    assert_ne!(p, 0);
                    if i % 2 == 0 {
                        // Hand it to the next CPU, which frees it remotely.
                        txs[(id + 1) % 4].send(p).unwrap();
                    } else {
                        mine.push(p);
                    }
                    while let Ok(q) = rx.try_recv() {
                        cpu.kfree(q).unwrap();
                    }
                    if mine.len() > 100 {
                        for q in mine.drain(..) {
                            cpu.kfree(q).unwrap();
                        }
                    }
                }
                for q in mine {
                    cpu.kfree(q).unwrap();
                }
                drop(txs);
                // Whatever the previous CPU still sends.
                for q in rx.iter() {
                    cpu.kfree(q).unwrap();
                }
            });
        }
        drop(tx);
    });
    assert_eq!(settled_free(&mut k), before);
}

/// A cache of `size` with `flags` and SLAB_NO_USER_FLAGS, as slub_kunit makes them.
fn test_cache(
    k: &mut Kernel,
    name: &str,
    size: u32,
    flags: SlabFlags,
) -> bootmm::mm::slub::alloc::CachePtr {
    k.kmem_cache_create(name, size, 0, flags | SlabFlags::SLAB_NO_USER_FLAGS)
        .unwrap()
}

fn errors(k: &Kernel) -> u64 {
    k.slab.errors.load(std::sync::atomic::Ordering::Relaxed)
}

fn validate(k: &mut Kernel, c: bootmm::mm::slub::alloc::CachePtr) -> u64 {
    let e = errors(k);
    validate_slab_cache(k, c);
    errors(k) - e
}

#[test]
fn slub_kunit_corruptions_are_reported_and_fixed() {
    for v in [(6, 6), (6, 12)] {
        kunit_cases(v);
    }
}

fn kunit_cases(v: (u32, u32)) {
    let mut k = boot(v, 128 << 20, 2);
    let g = gfp(&k, "GFP_KERNEL");

    // test_clobber_zone.
    let c = test_cache(&mut k, "TestSlub_RZ_alloc", 64, SlabFlags::SLAB_RED_ZONE);
    let p = k.kmem_cache_alloc(c, g).unwrap();
    fill(&k, p + 64, 0x12, 1);
    assert_eq!(validate(&mut k, c), 2);
    assert!(k.printk.lines_from(0).iter().any(|l| l
        .text
        .contains("BUG TestSlub_RZ_alloc (Not tainted): Right Redzone overwritten")));
    k.kmem_cache_free(c, p).unwrap();

    // test_next_pointer.
    let c = test_cache(&mut k, "TestSlub_next_ptr_free", 64, SlabFlags::SLAB_POISON);
    let p = k.kmem_cache_alloc(c, g).unwrap();
    k.kmem_cache_free(c, p).unwrap();
    let off = 64; // POISON: the free pointer lies after the object.
    let word = peek(&k, p + off, 8);
    fill(&k, p + off, !word[0], 1);
    assert_eq!(validate(&mut k, c), 3);
    for (i, &b) in word.iter().enumerate() {
        fill(&k, p + off + i as u64, b, 1);
    }
    assert_eq!(validate(&mut k, c), 2);
    assert_eq!(validate(&mut k, c), 0);

    // test_first_word and test_clobber_50th_byte.
    for (name, at, byte) in [
        ("TestSlub_1th_word_free", 0, 0x78),
        ("TestSlub_50th_word_free", 50, 0x9a),
    ] {
        let c = test_cache(&mut k, name, 64, SlabFlags::SLAB_POISON);
        let p = k.kmem_cache_alloc(c, g).unwrap();
        k.kmem_cache_free(c, p).unwrap();
        fill(&k, p + at, byte, 1);
        assert_eq!(validate(&mut k, c), 2, "{name}");
    }

    // test_clobber_redzone_free.
    let c = test_cache(&mut k, "TestSlub_RZ_free", 64, SlabFlags::SLAB_RED_ZONE);
    let p = k.kmem_cache_alloc(c, g).unwrap();
    k.kmem_cache_free(c, p).unwrap();
    fill(&k, p + 64, 0xab, 1);
    assert_eq!(validate(&mut k, c), 2);

    // Double free with F: "Object already free", refused.
    let c = test_cache(
        &mut k,
        "TestSlub_double",
        64,
        SlabFlags::SLAB_CONSISTENCY_CHECKS,
    );
    let p = k.kmem_cache_alloc(c, g).unwrap();
    k.kmem_cache_free(c, p).unwrap();
    let e = errors(&k);
    k.kmem_cache_free(c, p).unwrap();
    assert_eq!(errors(&k) - e, 2);
    assert!(k
        .printk
        .lines_from(0)
        .iter()
        .any(|l| l.text.contains("Object already free")));
    assert_eq!(validate(&mut k, c), 0);

    // test_leak_destroy: the leak is reported and the cache kept.
    let c = test_cache(
        &mut k,
        "TestSlub_leak_destroy",
        64,
        SlabFlags::SLAB_NO_MERGE,
    );
    let _p = k.kmem_cache_alloc(c, g).unwrap();
    let e = errors(&k);
    assert!(bootmm::mm::slab_common::kmem_cache_destroy(&mut k, c).is_err());
    assert_eq!(errors(&k) - e, 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Random kmalloc/kfree/krealloc: no object handed out twice, live bytes intact, and
    /// after freeing everything and shrinking, every slab page is back.
    #[test]
    fn random_kmalloc_kfree_krealloc(
        ops in proptest::collection::vec((0u8..3, 1u64..10_000, any::<u16>()), 1..400),
        late in any::<bool>(),
    ) {
        let mut k = boot(if late { (6, 18) } else { (6, 6) }, 128 << 20, 2);
        let g = gfp(&k, "GFP_KERNEL");
        let before = settled_free(&mut k);
        let mut live: Vec<(u64, u64, u8)> = Vec::new();
        for (i, (op, size, pick)) in ops.into_iter().enumerate() {
            let byte = (i % 253) as u8 + 1;
            match op {
                0 => {
                    let p = k.kmalloc(size, g).unwrap();
                    prop_assert!(p != 0);
                    for &(q, ql, _) in &live {
                        prop_assert!(p + size <= q || q + ql <= p);
                    }
                    fill(&k, p, byte, size);
                    live.push((p, size, byte));
                }
                1 if !live.is_empty() => {
                    let (p, len, b) = live.swap_remove(pick as usize % live.len());
                    prop_assert!(all(&k, p, len, b));
                    k.kfree(p).unwrap();
                }
                2 if !live.is_empty() => {
                    let j = pick as usize % live.len();
                    let (p, len, b) = live.swap_remove(j);
                    let q = k.krealloc(p, size, g).unwrap();
                    prop_assert!(q != 0);
                    let kept = len.min(size);
                    prop_assert!(all(&k, q, kept, b));
                    for &(r, rl, _) in &live {
                        prop_assert!(q + size <= r || r + rl <= q);
                    }
                    fill(&k, q, b, size);
                    live.push((q, size, b));
                }
                _ => {}
            }
        }
        for (p, len, b) in live {
            prop_assert!(all(&k, p, len, b));
            k.kfree(p).unwrap();
        }
        prop_assert_eq!(settled_free(&mut k), before);
    }
}

/// slub_kunit's test_krealloc_redzone_zeroing (6.13+ krealloc): shrinking keeps the kmalloc
/// red zone over the rest of the object, growing in place zeroes the grown part, and a move
/// copies the requested bytes and zeroes the rest.
#[test]
fn krealloc_keeps_the_red_zone_and_zeroes_what_grows() {
    let mut k = boot((6, 18), 128 << 20, 2);
    let g = gfp(&k, "GFP_KERNEL");
    let z = g | Gfp::__GFP_ZERO;
    let c = test_cache(
        &mut k,
        "TestSlub_krealloc",
        64,
        SlabFlags::SLAB_KMALLOC | SlabFlags::SLAB_STORE_USER | SlabFlags::SLAB_RED_ZONE,
    );
    let p = k.kmalloc_trace(c, g, 48).unwrap();
    fill(&k, p, 0xff, 48);
    assert_eq!(k.krealloc(p, 40, z).unwrap(), p);
    assert!(all(&k, p, 40, 0xff));
    assert!(all(&k, p + 40, 24, 0xcc));
    assert_eq!(k.krealloc(p, 56, z).unwrap(), p);
    assert!(all(&k, p + 40, 16, 0));
    assert!(all(&k, p + 56, 8, 0xcc));
    assert_eq!(validate(&mut k, c), 0);
    fill(&k, p, 0xff, 56);
    let q = k.krealloc(p, 112, z).unwrap();
    assert_ne!(q, p);
    assert!(all(&k, q, 56, 0xff));
    assert!(all(&k, q + 56, 56, 0));
    k.kfree(q).unwrap();
}

/// With SLAB_STORE_USER a full debug slab sits on the node's full list: validate checks it,
/// and a double free from it is caught after it went back to the partial list.
#[test]
fn store_user_caches_keep_full_slabs_on_the_full_list() {
    let mut k = boot((6, 6), 128 << 20, 2);
    let g = gfp(&k, "GFP_KERNEL");
    let c = test_cache(
        &mut k,
        "TestSlub_full",
        256,
        SlabFlags::SLAB_STORE_USER | SlabFlags::SLAB_CONSISTENCY_CHECKS,
    );
    let per_slab = bootmm::mm::slab_common::get_slabinfo(&k)
        .into_iter()
        .find(|i| i.name == "TestSlub_full")
        .unwrap()
        .objperslab;
    let objs: Vec<u64> = (0..per_slab)
        .map(|_| k.kmem_cache_alloc(c, g).unwrap())
        .collect();
    // One slab, full: only the full list holds it.
    assert_eq!(validate_slab_cache(&mut k, c), 1);
    assert_eq!(validate(&mut k, c), 0);
    k.kmem_cache_free(c, objs[3]).unwrap();
    let e = errors(&k);
    k.kmem_cache_free(c, objs[3]).unwrap();
    assert_eq!(errors(&k) - e, 2, "Object already free and its fix");
    assert_eq!(validate(&mut k, c), 0);
    for (i, &p) in objs.iter().enumerate() {
        if i != 3 {
            k.kmem_cache_free(c, p).unwrap();
        }
    }
    assert!(bootmm::mm::slab_common::kmem_cache_destroy(&mut k, c).is_ok());
}

/// A free whose object would run past its slab is refused, and a free pointer a caller
/// overwrote cannot make SLUB write outside its slabs: kzalloc does not zero what is no
/// object of the cache, and the flush stops the corrupted chain.
#[test]
fn corrupted_free_pointers_stay_inside_the_slabs() {
    let mut k = boot((6, 6), 128 << 20, 1);
    let g = gfp(&k, "GFP_KERNEL");
    // kmalloc-192 on one CPU: order-0 slabs of 21 objects, 64 bytes left at the end.
    let c = k.kmalloc(192, g).unwrap();
    assert!(matches!(
        k.kfree((c & !0xfff) + 21 * 192 + 8),
        Err(bootmm::mm::slab_common::KfreeError::NotAnObject(_))
    ));
    k.kfree(c).unwrap();
    let a = k.kmalloc(64, g).unwrap();
    let b = k.kmalloc(64, g).unwrap();
    k.kfree(b).unwrap();
    k.kfree(a).unwrap();
    // a's free pointer (at offset 32 of a 64-byte object) now names the memmap.
    let nr = k.sparse().next_present_section_nr(None).unwrap();
    let memmap_pa = k
        .sparse()
        .host_to_phys(k.sparse().section_memmap(nr).unwrap())
        .unwrap();
    let target = k.phys.va(bootmm::PhysAddr(memmap_pa + 4096)).0;
    let before = peek(&k, target, 64);
    for (i, byte) in target.to_le_bytes().iter().enumerate() {
        fill(&k, a + 32 + i as u64, *byte, 1);
    }
    let z = g | Gfp::__GFP_ZERO;
    assert_eq!(k.kmalloc(64, z).unwrap(), a);
    let bad = k.kmalloc(64, z).unwrap();
    assert_eq!(bad, target);
    assert_eq!(peek(&k, target, 64), before, "the memmap was not zeroed");
    assert!(k.kfree(bad).is_err());
    k.kfree(a).unwrap();
    kmem_cache_shrink_all(&mut k);
    // The page allocator still works.
    assert_ne!(k.kmalloc(5000, g).unwrap(), 0);
}

/// slub_debug T traces every allocation and free with the slab's in-use count and freelist.
#[test]
fn trace_prints_the_slabs_count_and_freelist() {
    let mut k = boot((6, 6), 128 << 20, 1);
    let g = gfp(&k, "GFP_KERNEL");
    let c = test_cache(&mut k, "TestSlub_trace", 64, SlabFlags::SLAB_TRACE);
    let p = k.kmem_cache_alloc(c, g).unwrap();
    let q = k.kmem_cache_alloc(c, g).unwrap();
    k.kmem_cache_free(c, q).unwrap();
    let log: Vec<String> = k.printk.lines_from(0).into_iter().map(|l| l.text).collect();
    let has = |prefix: &str| log.iter().any(|l| l.starts_with(prefix));
    assert!(
        has(&format!(
            "TRACE TestSlub_trace alloc 0x{p:016x} inuse=1 fp=0x"
        )),
        "{log:?}"
    );
    assert!(has(&format!(
        "TRACE TestSlub_trace alloc 0x{q:016x} inuse=2 fp=0x"
    )));
    assert!(has(&format!(
        "TRACE TestSlub_trace free 0x{q:016x} inuse=2 fp=0x"
    )));
    assert!(log
        .iter()
        .any(|l| l.starts_with(&format!("Object {q:016x}: "))));
}
