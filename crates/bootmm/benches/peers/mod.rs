// SPDX-License-Identifier: GPL-2.0-only
//! What the benchmarks share: the peers (buddy_system_allocator's FrameAllocator, talc and
//! rlsf serving naturally aligned page blocks from a 1 GiB host pool), the lock a kernel
//! would share them behind, and the CSV every benchmark writes to target/bench/.

#![allow(dead_code)] // each benchmark uses part of it

use std::alloc::Layout;
use std::ptr::NonNull;

pub const POOL: usize = 1 << 30;
pub const PAGE: usize = 4096;

/// An allocator of naturally aligned blocks of `2^order` pages.
pub trait PageAllocator {
    fn alloc(&mut self, order: u32) -> usize;
    fn free(&mut self, h: usize, order: u32);
}

pub struct Bsa(pub buddy_system_allocator::FrameAllocator<32>);

impl Bsa {
    pub fn new() -> Self {
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

/// The layout of a peer's 1 GiB host pool.
fn pool_layout() -> Layout {
    Layout::from_size_align(POOL, 1 << 22).unwrap()
}

/// A 1 GiB host pool, page aligned, lazily backed; given back by [`PoolGuard`] when the
/// allocator that uses it is dropped, so that the table's many runs do not pile up memory.
pub fn pool() -> (&'static mut [u8], PoolGuard) {
    // SAFETY: a fresh zeroed allocation of a non-zero size.
    unsafe {
        let p = std::alloc::alloc_zeroed(pool_layout());
        assert!(!p.is_null());
        (std::slice::from_raw_parts_mut(p, POOL), PoolGuard(p))
    }
}

/// Frees a pool on drop. Declared after the allocator in its owner, so it drops last.
pub struct PoolGuard(*mut u8);

impl Drop for PoolGuard {
    fn drop(&mut self) {
        // SAFETY: allocated by `pool` with this layout; the allocator that used it is gone
        // (it is dropped first), and nothing else points into it.
        unsafe { std::alloc::dealloc(self.0, pool_layout()) }
    }
}

pub fn block(order: u32) -> Layout {
    let size = PAGE << order;
    Layout::from_size_align(size, size).unwrap()
}

pub struct Talc(
    talc::base::Talc<talc::source::Manual, talc::DefaultBinning>,
    #[allow(dead_code)] PoolGuard,
);

impl Talc {
    pub fn new() -> Self {
        let (mem, guard) = pool();
        let mut t = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the pool is ours for the rest of the process.
        unsafe { t.claim(mem.as_mut_ptr(), mem.len()).unwrap() };
        Talc(t, guard)
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

pub type TlsfPool = rlsf::Tlsf<'static, u32, u32, 28, 32>;

pub struct Rlsf(TlsfPool, #[allow(dead_code)] PoolGuard);

impl Rlsf {
    pub fn new() -> Self {
        let (mem, guard) = pool();
        let mut t = TlsfPool::new();
        let blk = NonNull::new(std::ptr::slice_from_raw_parts_mut(
            mem.as_mut_ptr(),
            mem.len(),
        ))
        .unwrap();
        // SAFETY: the pool is ours for the rest of the process.
        unsafe { t.insert_free_block_ptr(blk).unwrap() };
        Rlsf(t, guard)
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

// SAFETY: the pool is owned by its allocator alone; it moves between threads with it (the
// threaded benchmarks share an allocator only behind a lock).
unsafe impl Send for PoolGuard {}

/// A peer behind the same kind of lock as bootmm's `zone->lock` (a `spin::Mutex`), taken
/// for every call as a kernel would take it around a shared allocator.
pub struct Locked<A>(pub spin::Mutex<A>);

impl<A: PageAllocator> PageAllocator for Locked<A> {
    fn alloc(&mut self, order: u32) -> usize {
        self.0.lock().alloc(order)
    }
    fn free(&mut self, h: usize, order: u32) {
        self.0.lock().free(h, order)
    }
}

pub fn locked<A>(a: A) -> Locked<A> {
    Locked(spin::Mutex::new(a))
}

/// A peer shared by threads behind one lock.
impl<A: PageAllocator> PageAllocator for &'static Locked<A> {
    fn alloc(&mut self, order: u32) -> usize {
        self.0.lock().alloc(order)
    }
    fn free(&mut self, h: usize, order: u32) {
        self.0.lock().free(h, order)
    }
}

/// Write a benchmark's table (`workload,allocator,threads,ns_per_op` rows) to
/// `target/bench/NAME.csv`.
pub fn write_csv(name: &str, csv: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.csv")), csv).unwrap();
}

/// Interleaved rounds of [`ROUND_NS`] each.
pub const ROUNDS: usize = 5;
/// The length of one allocator's turn in a round, ns.
pub const ROUND_NS: f64 = 100e6;

/// A workload whose steps can be timed.
pub trait Timed {
    fn step(&mut self);

    /// ns per step over `n` steps.
    fn time(&mut self, n: u64) -> f64 {
        let t = std::time::Instant::now();
        for _ in 0..n {
            self.step();
        }
        t.elapsed().as_nanos() as f64 / n as f64
    }
}

/// ns per step of each run, the best of [`ROUNDS`] rounds that interleave the runs (each
/// runs ~[`ROUND_NS`] in turn), so that a change in the machine's load touches them alike.
pub fn best_of_rounds<T: Timed>(runs: &mut [T]) -> Vec<f64> {
    let n: Vec<u64> = runs
        .iter_mut()
        .map(|r| ((ROUND_NS / r.time(20_000)) as u64).clamp(20_000, 50_000_000))
        .collect();
    let mut best = vec![f64::MAX; runs.len()];
    for _ in 0..ROUNDS {
        for (i, r) in runs.iter_mut().enumerate() {
            best[i] = best[i].min(r.time(n[i]));
        }
    }
    best
}

/// The benchmarks' machine: 1 GiB, 2 CPUs, 6.6, booted, its CPUs up, leaked so that CPU
/// handles can live in the runs.
pub fn booted_6_6() -> &'static bootmm::Kernel {
    let mut m = bootmm::Machine::qemu(1 << 30, 2).unwrap();
    m.era = bootmm::Era::new(bootmm::KernelVersion::new(6, 6, 0), bootmm::Arch::X86_64);
    let mut k = bootmm::Kernel::new(m).unwrap();
    bootmm::init::main::start_kernel(&mut k).unwrap();
    k.smp_init().unwrap();
    Box::leak(Box::new(k))
}
