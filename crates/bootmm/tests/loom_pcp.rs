// SPDX-License-Identifier: GPL-2.0-only
//! loom models of the per-CPU page lists: a CPU's fast path (allocate, free past the high
//! mark) against a drain from another CPU, under every interleaving loom can reach. The pcp
//! code is the model's own (mm/page_alloc/pcp.rs, built on loom's atomics and cells); the
//! buddy lists behind it are a stand-in pool under a loom mutex.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p bootmm --test loom_pcp --release`.

#![cfg(loom)]

use std::ptr::NonNull;

use bootmm::include::mm_types::{ListHead, Page};
use bootmm::mm::page_alloc::pcp::{self, PcpBuddy, PcpPtr, PcpRules};
use bootmm::{Era, KernelVersion};
use loom::sync::{Arc, Mutex, MutexGuard};

const PAGES: usize = 4;

/// The stand-in zone: `PAGES` struct pages, the free ones by index under "zone->lock".
struct Pool {
    pages: Box<[Page]>,
    free: Mutex<Vec<usize>>,
}

// SAFETY: the pages are only touched by whoever took them off the free vector (or, on a pcp
// list, under that pageset's lock), as the kernel's struct pages are.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

impl Pool {
    fn new() -> Pool {
        let pages = (0..PAGES)
            .map(|_| Page {
                flags: 0,
                lru: ListHead {
                    next: std::ptr::null_mut(),
                    prev: std::ptr::null_mut(),
                },
                mapping: 0,
                index: 0,
                private: 0,
                mapcount: -1,
                refcount: 0,
                memcg_data: 0,
            })
            .collect();
        Pool {
            pages,
            free: Mutex::new((0..PAGES).collect()),
        }
    }

    fn index(&self, p: *mut Page) -> usize {
        (p as usize - self.pages.as_ptr() as usize) / std::mem::size_of::<Page>()
    }
}

impl PcpBuddy for Pool {
    type Locked<'a> = MutexGuard<'a, Vec<usize>>;

    fn lock_zone(&self) -> Self::Locked<'_> {
        self.free.lock().unwrap()
    }

    unsafe fn rmqueue_one<'a>(
        &'a self,
        l: &mut Self::Locked<'a>,
        _order: u32,
        _mt: usize,
    ) -> Option<*mut Page> {
        let i = l.pop()?;
        Some(self.pages.as_ptr().wrapping_add(i) as *mut Page)
    }

    unsafe fn free_one<'a>(
        &'a self,
        l: &mut Self::Locked<'a>,
        page: *mut Page,
        _order: u32,
        _mt: usize,
    ) {
        let i = self.index(page);
        assert!(!l.contains(&i), "page {i} freed twice to the buddy lists");
        l.push(i);
    }
}

/// A pageset of `rules`' form with batch 1 and high 2, in memory that outlives the model run.
fn pageset(rules: &PcpRules) -> (Vec<u64>, PcpPtr) {
    let mut mem = vec![0u64; pcp::per_cpu_pages_size(rules.nr_lists).div_ceil(8)];
    // SAFETY: `mem` is large enough, 8-byte aligned, and kept alive with the pageset.
    let p = unsafe {
        PcpPtr::init(
            NonNull::new(mem.as_mut_ptr().cast()).unwrap(),
            rules.nr_lists,
        )
    };
    p.lock().with(|s| {
        s.batch = 1;
        s.high = 2;
        s.high_min = 2;
        s.high_max = 2;
    });
    (mem, p)
}

/// The CPU: allocate two blocks (refilling from the pool), free both (the second reaches
/// high and sends a batch back); with 6.0+ rules a failed trylock goes to the pool directly.
fn cpu_side(pool: &Pool, p: &PcpPtr, rules: &PcpRules) {
    let mut got = Vec::new();
    for _ in 0..2 {
        let g = if rules.trylock {
            p.try_lock()
        } else {
            Some(p.lock())
        };
        let page = match g {
            Some(mut g) => {
                g.with(|s| pcp::rmqueue_pcplist_prepare(s, rules));
                let pindex = rules.order_to_pindex(0, 0);
                // SAFETY: `g` locks a pageset of `pool`.
                unsafe { pcp::__rmqueue_pcplist(pool, &mut g, rules, 0, 0, pindex) }
            }
            None => {
                let mut l = pool.lock_zone();
                // SAFETY: the lock is held.
                unsafe { pool.rmqueue_one(&mut l, 0, 0) }
            }
        };
        got.extend(page);
    }
    for page in got {
        let g = if rules.trylock {
            p.try_lock()
        } else {
            Some(p.lock())
        };
        match g {
            // SAFETY: `g` locks a pageset of `pool`; the page is ours.
            Some(mut g) => unsafe {
                pcp::free_unref_page_commit(pool, &mut g, rules, page, 0, 0, 0)
            },
            None => {
                let mut l = pool.lock_zone();
                // SAFETY: the lock is held; the page is ours.
                unsafe { pool.free_one(&mut l, page, 0, 0) };
            }
        }
    }
}

fn model(v: (u32, u32, u32)) {
    let era = Era::new(KernelVersion::new(v.0, v.1, v.2), bootmm::Arch::X86_64);
    let rules = PcpRules::new(&era, true);
    loom::model(move || {
        let pool = Arc::new(Pool::new());
        let (mem, p) = pageset(&rules);
        let (pool2, p2) = (pool.clone(), p);
        let drain = loom::thread::spawn(move || pcp::drain_pages_zone(&*pool2, &p2, &rules));
        cpu_side(&pool, &p, &rules);
        drain.join().unwrap();
        pcp::drain_pages_zone(&*pool, &p, &rules);
        // No page lost or doubled: all back in the pool, the pageset empty.
        assert_eq!(p.lock().state().count, 0);
        let mut free = pool.free.lock().unwrap().clone();
        free.sort_unstable();
        assert_eq!(free, (0..PAGES).collect::<Vec<_>>());
        drop(mem);
    });
}

/// 5.10: three lists, interrupts off (the blocking lock), batch-sized frees.
#[test]
fn fast_path_against_drain_5_10() {
    model((5, 10, 0));
}

/// 6.6: per-order lists, trylock with the buddy fallback.
#[test]
fn fast_path_against_drain_6_6() {
    model((6, 6, 0));
}

/// 6.12: the auto-tuned high and bounded drains.
#[test]
fn fast_path_against_drain_6_12() {
    model((6, 12, 0));
}
