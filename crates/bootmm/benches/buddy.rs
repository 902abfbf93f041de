// SPDX-License-Identifier: GPL-2.0-only
//! The buddy allocator's zone->lock path against other allocators serving page blocks.
//!
//! Two workloads, each step one free and one allocation (an "alloc+free pair"):
//! `churn0` keeps 4096 order-0 pages live and replaces the oldest each step; `mixed` keeps
//! 1024 blocks of random orders 0–6 (mostly small) live and replaces a random one. bootmm
//! runs them through `alloc_pages`/`__free_pages` on a booted 1 GiB machine;
//! `buddy_system_allocator`'s FrameAllocator, `talc` and `rlsf` serve the same page counts
//! from a 1 GiB pool, naturally aligned as buddy blocks are. Criterion measures each; a
//! table of ns per pair and ratios is printed at the end.
//!
//! Run: `cargo bench -p bootmm --bench buddy`.

use std::alloc::Layout;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use bootmm::include::gfp::{gfp_constant, Gfp};
use bootmm::include::mm_types::Page;
use bootmm::init::main::start_kernel;
use bootmm::mm::page_alloc::{__free_pages, alloc_pages};
use bootmm::{Kernel, Machine};
use criterion::{criterion_group, Criterion};

const POOL: usize = 1 << 30;
const PAGE: usize = 4096;

/// An allocator of naturally aligned blocks of `2^order` pages.
trait PageAllocator {
    fn alloc(&mut self, order: u32) -> usize;
    fn free(&mut self, h: usize, order: u32);
}

struct Bootmm {
    k: Kernel,
    gfp: Gfp,
}

impl Bootmm {
    fn new() -> Self {
        let mut k = Kernel::new(Machine::qemu(POOL as u64, 1).unwrap()).unwrap();
        start_kernel(&mut k).unwrap();
        let gfp = gfp_constant(&k.era, "GFP_KERNEL").unwrap();
        Bootmm { k, gfp }
    }
}

impl PageAllocator for Bootmm {
    fn alloc(&mut self, order: u32) -> usize {
        let p = alloc_pages(&mut self.k, self.gfp, order).unwrap().unwrap();
        p.as_ptr() as usize
    }
    fn free(&mut self, h: usize, order: u32) {
        // The handle is the struct page pointer alloc_pages returned.
        let p = NonNull::new(h as *mut Page).unwrap();
        __free_pages(&mut self.k, p, order);
    }
}

struct Bsa(buddy_system_allocator::FrameAllocator<32>);

impl Bsa {
    fn new() -> Self {
        let mut f = buddy_system_allocator::FrameAllocator::<32>::new();
        f.add_frame(0, POOL / PAGE);
        Bsa(f)
    }
}

impl PageAllocator for Bsa {
    fn alloc(&mut self, order: u32) -> usize {
        self.0.alloc(1 << order).unwrap()
    }
    fn free(&mut self, h: usize, order: u32) {
        self.0.dealloc(h, 1 << order);
    }
}

/// A 1 GiB host pool, page aligned, lazily backed.
fn pool() -> &'static mut [u8] {
    let layout = Layout::from_size_align(POOL, 1 << 22).unwrap();
    // SAFETY: a fresh zeroed allocation of a non-zero size, leaked for the process lifetime.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout);
        assert!(!p.is_null());
        std::slice::from_raw_parts_mut(p, POOL)
    }
}

fn block(order: u32) -> Layout {
    let size = PAGE << order;
    Layout::from_size_align(size, size).unwrap()
}

struct Talc(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>);

impl Talc {
    fn new() -> Self {
        let mem = pool();
        let mut t = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the pool is ours for the rest of the process.
        unsafe { t.claim(mem.as_mut_ptr(), mem.len()).unwrap() };
        Talc(t)
    }
}

impl PageAllocator for Talc {
    fn alloc(&mut self, order: u32) -> usize {
        // SAFETY: non-zero size.
        unsafe { self.0.allocate(block(order)).unwrap().as_ptr() as usize }
    }
    fn free(&mut self, h: usize, order: u32) {
        // SAFETY: `h` came from `allocate` with this layout.
        unsafe { self.0.deallocate(h as *mut u8, block(order)) }
    }
}

type TlsfPool = rlsf::Tlsf<'static, u32, u32, 28, 32>;

struct Rlsf(TlsfPool);

impl Rlsf {
    fn new() -> Self {
        let mem = pool();
        let mut t = TlsfPool::new();
        let blk = NonNull::new(std::ptr::slice_from_raw_parts_mut(
            mem.as_mut_ptr(),
            mem.len(),
        ))
        .unwrap();
        // SAFETY: the pool is ours for the rest of the process.
        unsafe { t.insert_free_block_ptr(blk).unwrap() };
        Rlsf(t)
    }
}

impl PageAllocator for Rlsf {
    fn alloc(&mut self, order: u32) -> usize {
        self.0.allocate(block(order)).unwrap().as_ptr() as usize
    }
    fn free(&mut self, h: usize, order: u32) {
        let l = block(order);
        // SAFETY: `h` came from `allocate` with this alignment.
        unsafe {
            self.0
                .deallocate(NonNull::new(h as *mut u8).unwrap(), l.align())
        }
    }
}

/// xorshift64*: a fixed, cheap sequence so every allocator sees the same workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Mostly small orders, as kernel allocations are.
    fn order(&mut self) -> u32 {
        match self.next() % 100 {
            0..=49 => 0,
            50..=69 => 1,
            70..=84 => 2,
            85..=94 => 3,
            95..=97 => 4,
            98 => 5,
            _ => 6,
        }
    }
}

/// A workload in progress on one allocator.
struct Run<A: PageAllocator> {
    a: A,
    live: Vec<(usize, u32)>,
    i: usize,
    rng: Rng,
    mixed: bool,
}

impl<A: PageAllocator> Run<A> {
    fn new(mut a: A, mixed: bool) -> Self {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let n = if mixed { 1024 } else { 4096 };
        let live = (0..n)
            .map(|_| {
                let o = if mixed { rng.order() } else { 0 };
                (a.alloc(o), o)
            })
            .collect();
        Run {
            a,
            live,
            i: 0,
            rng,
            mixed,
        }
    }

    /// One alloc+free pair.
    #[inline]
    fn step(&mut self) {
        let idx = if self.mixed {
            (self.rng.next() % self.live.len() as u64) as usize
        } else {
            self.i = (self.i + 1) % self.live.len();
            self.i
        };
        let (h, o) = self.live[idx];
        self.a.free(h, o);
        let o = if self.mixed { self.rng.order() } else { 0 };
        self.live[idx] = (black_box(self.a.alloc(o)), o);
    }
}

/// Sets up one allocator with a workload and hands its step function to a callback.
type Starter = Box<dyn FnMut(bool, &mut dyn FnMut(&mut dyn FnMut()))>;

fn allocators() -> Vec<Starter> {
    fn one<A: PageAllocator + 'static>(make: fn() -> A) -> Starter {
        Box::new(move |mixed, f| {
            let mut r = Run::new(make(), mixed);
            f(&mut || r.step());
        })
    }
    vec![
        one(Bootmm::new),
        one(Bsa::new),
        one(Talc::new),
        one(Rlsf::new),
    ]
}

const NAMES: [&str; 4] = ["bootmm buddy", "buddy_system_allocator", "talc", "rlsf"];

fn benches(c: &mut Criterion) {
    for (w, mixed) in [("churn0", false), ("mixed", true)] {
        let mut g = c.benchmark_group(w);
        for (name, mut run) in NAMES.iter().zip(allocators()) {
            run(mixed, &mut |step| {
                g.bench_function(*name, |b| b.iter(&mut *step));
            });
        }
        g.finish();
    }
}

/// ns per pair over `n` steps, best of three.
fn time_it(step: &mut dyn FnMut(), n: u32) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..n {
            step();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(n));
    }
    best
}

fn table() {
    let n = 1_000_000;
    println!("\nns per alloc+free pair (best of 3 x {n} pairs) and ratio to bootmm:");
    println!(
        "{:<24} {:>10} {:>8} {:>10} {:>8}",
        "allocator", "churn0", "ratio", "mixed", "ratio"
    );
    let mut res = [[0f64; 2]; 4];
    for (w, mixed) in [(0, false), (1, true)] {
        for (i, mut run) in allocators().into_iter().enumerate() {
            run(mixed, &mut |step| res[i][w] = time_it(step, n));
        }
    }
    for (i, name) in NAMES.iter().enumerate() {
        println!(
            "{name:<24} {:>10.1} {:>8.2} {:>10.1} {:>8.2}",
            res[i][0],
            res[i][0] / res[0][0],
            res[i][1],
            res[i][1] / res[0][1]
        );
    }
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = benches
}

fn main() {
    // BUDDY_PROFILE=churn0|mixed: only run bootmm's loop, for a profiler.
    if let Ok(w) = std::env::var("BUDDY_PROFILE") {
        let mut r = Run::new(Bootmm::new(), w == "mixed");
        for _ in 0..20_000_000 {
            r.step();
        }
        return;
    }
    group();
    Criterion::default().configure_from_args().final_summary();
    table();
}
