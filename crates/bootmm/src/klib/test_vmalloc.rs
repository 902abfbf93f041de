// SPDX-License-Identifier: GPL-2.0-only
//! lib/test_vmalloc.c: the kernel's vmalloc stress and timing module, run on the model.
//!
//! DOC: the module starts `nr_threads` workers; each runs every test `run_test_mask`
//! selects (bit i: test i of [`TESTS`]), in shuffled order unless `sequential_test_order`,
//! `test_repeat_count` times, and counts a run as passed, failed, or (for the tests expected
//! to fail) xfailed. The module prints per worker and per test
//! `Summary: <name> passed: P failed: F xfailed: X repeat: R loops: L avg: T usec`, and
//! `All test took worker<i>=<cycles> cycles`. The tests and their numbers are the
//! linux-mm version's (with `nr_pcpu_objects`, `vm_map_ram_test`, `vrealloc_test`), which
//! counts a successful run of an xfail test as passed.
//!
//! In bootmm each worker is a host thread holding one simulated CPU, so `nr_threads` is at
//! most the machine's CPUs. Random numbers come from a generator seeded per worker, so a
//! run is reproducible; the times are the host's. `kvfree_rcu` frees at once (no RCU
//! grace period is modelled), and the non-blocking GFP masks of `no_block_alloc_test` take
//! the same path as GFP_KERNEL (the model never sleeps).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::include::gfp::Gfp;
use crate::kernel::smp::Cpu;
use crate::kernel::Kernel;
use crate::mm::vmalloc::{self, VfreeResult, VmallocArgs, GFP_KERNEL};

/// The module parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub nr_threads: u32,
    pub sequential_test_order: bool,
    pub test_repeat_count: u32,
    pub test_loop_count: u32,
    pub nr_pages: u32,
    pub use_huge: bool,
    pub run_test_mask: u32,
    pub nr_pcpu_objects: u32,
}

impl Default for Params {
    /// The module's defaults.
    fn default() -> Self {
        Params {
            nr_threads: 0,
            sequential_test_order: false,
            test_repeat_count: 1,
            test_loop_count: 1_000_000,
            nr_pages: 0,
            use_huge: false,
            run_test_mask: 7,
            nr_pcpu_objects: 35000,
        }
    }
}

/// One test of `test_case_array`.
pub struct TestCase {
    pub name: &'static str,
    pub xfail: bool,
    run: fn(&Ctx<'_, '_>) -> i32,
}

/// What a test function sees: its CPU, the parameters and the worker's random numbers.
pub struct Ctx<'a, 'k> {
    cpu: &'a Cpu<'k>,
    p: &'a Params,
    rng: core::cell::Cell<u64>,
}

impl Ctx<'_, '_> {
    fn k(&self) -> &Kernel {
        self.cpu.kernel()
    }

    /// `get_random_u32`: xorshift64*.
    fn random(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// `get_random_u32_inclusive(lo, hi)`.
    fn random_inclusive(&self, lo: u32, hi: u32) -> u32 {
        lo + self.random() % (hi - lo + 1)
    }

    fn vmalloc(&self, size: u64, caller: &'static str) -> u64 {
        let mut a = VmallocArgs::vmalloc(size);
        a.caller = caller;
        self.cpu.__vmalloc_node(a).unwrap_or(0)
    }

    fn vmalloc_node(&self, size: u64, align: u64, caller: &'static str) -> u64 {
        let a = VmallocArgs {
            size,
            align,
            gfp: GFP_KERNEL | Gfp::__GFP_ZERO,
            node: 0,
            caller,
        };
        self.cpu.__vmalloc_node(a).unwrap_or(0)
    }

    fn vfree(&self, p: u64) {
        let r = self.cpu.vfree(p);
        debug_assert!(matches!(r, VfreeResult::Freed | VfreeResult::Null), "{r:?}");
    }

    /// A store of `len` bytes through a kernel virtual address (the walker's page).
    fn store(&self, va: u64, bytes: &[u8]) -> bool {
        let k = self.k();
        match vmalloc::virt_to_phys_walk(k, va, bytes.len() as u64) {
            Some(pa) => k
                .phys
                .host_ptr(pa, bytes.len() as u64)
                .map(|h| {
                    // SAFETY: the bytes are simulated RAM of a page this test owns.
                    unsafe {
                        core::ptr::copy_nonoverlapping(bytes.as_ptr(), h.as_ptr(), bytes.len())
                    }
                })
                .is_ok(),
            None => false,
        }
    }

    fn load(&self, va: u64, len: usize) -> Option<Vec<u8>> {
        let k = self.k();
        let pa = vmalloc::virt_to_phys_walk(k, va, len as u64)?;
        let h = k.phys.host_ptr(pa, len as u64).ok()?;
        // SAFETY: simulated RAM of a page this test owns.
        Some(unsafe { core::slice::from_raw_parts(h.as_ptr(), len) }.to_vec())
    }

    fn store_u64(&self, va: u64, v: u64) -> bool {
        self.store(va, &v.to_le_bytes())
    }

    fn load_u64(&self, va: u64) -> u64 {
        self.load(va, 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn nr_pages(&self) -> u64 {
        u64::from(self.p.nr_pages.max(1))
    }
}

const PAGE_SIZE: u64 = 4096;

/// `test_loop_count` times: vmalloc `pages` pages, write `byte` at the start, vfree.
fn alloc_write_free(c: &Ctx<'_, '_>, pages: u64, byte: u8, caller: &'static str) -> i32 {
    for _ in 0..c.p.test_loop_count {
        let p = c.vmalloc(pages * PAGE_SIZE, caller);
        if p == 0 {
            return -1;
        }
        c.store(p, &[byte]);
        c.vfree(p);
    }
    0
}

fn fix_size_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    alloc_write_free(c, c.nr_pages(), 0, "fix_size_alloc_test")
}

fn full_fit_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    // junk_length = fls(num_online_cpus()) * (32 MiB / PAGE_SIZE).
    let cpus = c.k().cpus.nr_cpu_ids();
    let junk = u64::from(32 - cpus.leading_zeros()) * ((32 << 20) / PAGE_SIZE);
    let ptr = c.vmalloc(8 * junk, "full_fit_alloc_test");
    let junk_ptr = c.vmalloc(8 * junk, "full_fit_alloc_test");
    let mut rv = 0;
    if ptr == 0 || junk_ptr == 0 {
        c.vfree(ptr);
        c.vfree(junk_ptr);
        return -1;
    }
    for i in 0..junk {
        let a = c.vmalloc(PAGE_SIZE, "full_fit_alloc_test");
        let b = c.vmalloc(PAGE_SIZE, "full_fit_alloc_test");
        c.store_u64(ptr + i * 8, a);
        c.store_u64(junk_ptr + i * 8, b);
    }
    for i in 0..junk {
        c.vfree(c.load_u64(junk_ptr + i * 8));
    }
    for _ in 0..c.p.test_loop_count {
        let t = c.vmalloc(PAGE_SIZE, "full_fit_alloc_test");
        if t == 0 {
            rv = -1;
            break;
        }
        c.store(t, &[1]);
        c.vfree(t);
    }
    for i in 0..junk {
        c.vfree(c.load_u64(ptr + i * 8));
    }
    c.vfree(ptr);
    c.vfree(junk_ptr);
    rv
}

fn long_busy_list_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    const N: u64 = 15000;
    let ptr = c.vmalloc(8 * N, "long_busy_list_alloc_test");
    if ptr == 0 {
        return -1;
    }
    for i in 0..N {
        let p = c.vmalloc(PAGE_SIZE, "long_busy_list_alloc_test");
        c.store_u64(ptr + i * 8, p);
    }
    let mut rv = 0;
    for _ in 0..c.p.test_loop_count {
        let p1 = c.vmalloc(100 * PAGE_SIZE, "long_busy_list_alloc_test");
        let p2 = c.vmalloc(PAGE_SIZE, "long_busy_list_alloc_test");
        if p1 == 0 || p2 == 0 {
            c.vfree(p1);
            c.vfree(p2);
            rv = -1;
            break;
        }
        c.store(p1, &[0]);
        c.store(p2, &[0]);
        c.vfree(p1);
        c.vfree(p2);
    }
    for i in 0..N {
        c.vfree(c.load_u64(ptr + i * 8));
    }
    c.vfree(ptr);
    rv
}

fn random_size_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    for _ in 0..c.p.test_loop_count {
        let n = u64::from(c.random_inclusive(1, 100));
        let p = c.vmalloc(n * PAGE_SIZE, "random_size_alloc_test");
        if p == 0 {
            return -1;
        }
        c.store(p, &[1]);
        c.vfree(p);
    }
    0
}

/// `THREAD_ALIGN` on x86_64 without KASAN: `THREAD_SIZE`, 16 KiB.
const THREAD_ALIGN: u64 = 16 << 10;

fn fix_align_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    for _ in 0..c.p.test_loop_count {
        let p = c.vmalloc_node(5 * PAGE_SIZE, THREAD_ALIGN << 1, "fix_align_alloc_test");
        if p == 0 {
            return -1;
        }
        c.vfree(p);
    }
    0
}

fn random_size_align_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    for _ in 0..c.p.test_loop_count {
        let rnd = c.random() as u8;
        let align = 1u64 << (rnd % 23);
        let size = u64::from(rnd % 10 + 1) * PAGE_SIZE;
        let p = c.vmalloc_node(size, align, "random_size_align_alloc_test");
        if p == 0 {
            return -1;
        }
        c.vfree(p);
    }
    0
}

fn align_shift_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    for i in 0..64 {
        let p = c.vmalloc_node(PAGE_SIZE, 1 << i, "align_shift_alloc_test");
        if p == 0 {
            return -1;
        }
        c.vfree(p);
    }
    0
}

fn pcpu_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    let n = u64::from(c.p.nr_pcpu_objects);
    let pcpu = c.vmalloc(8 * n.max(1), "pcpu_alloc_test");
    if pcpu == 0 {
        return -1;
    }
    // The pointers live in the vmalloc'ed array, as in the module (no host memory grows
    // with nr_pcpu_objects).
    let mut rv = 0;
    for i in 0..n {
        let size = u64::from(c.random_inclusive(1, (PAGE_SIZE / 4) as u32));
        let align = 1u64 << c.random_inclusive(1, 11);
        let p = c.cpu.alloc_percpu(size, align);
        if p.is_none() {
            rv = -1;
        }
        // 0 stands for NULL: a per-CPU pointer of 0 is the static area, never handed out.
        c.store_u64(pcpu + i * 8, p.map_or(0, |p| p.offset()));
    }
    for i in 0..n {
        let v = c.load_u64(pcpu + i * 8);
        if v != 0 {
            let p = crate::mm::percpu::PcpuPtr::from_value_in(c.k(), v);
            if p.is_none() || c.cpu.free_percpu(p).is_err() {
                rv = -1;
            }
        }
    }
    c.vfree(pcpu);
    rv
}

fn kvfree_rcu_vmalloc_test(c: &Ctx<'_, '_>) -> i32 {
    // kvfree_rcu frees after a grace period; no RCU is modelled, so the free is at once.
    alloc_write_free(c, 1, 1, "fix_size_alloc_test")
}

fn vm_map_ram_test(c: &Ctx<'_, '_>) -> i32 {
    let n = c.nr_pages() as usize;
    // alloc_pages_bulk: order-0 pages.
    let mut pages = Vec::with_capacity(n);
    for _ in 0..n {
        match c.cpu.alloc_pages(GFP_KERNEL, 0) {
            Ok(Some(p)) => pages.push(p),
            _ => break,
        }
    }
    let pfns: Vec<u64> = pages
        .iter()
        .filter_map(|&p| crate::mm::page_alloc::page_to_pfn(c.k(), p))
        .collect();
    let mut rv = if pfns.len() == n { 0 } else { -1 };
    if rv == 0 {
        for _ in 0..c.p.test_loop_count {
            let v = c.cpu.vm_map_ram(&pfns, vmalloc::NUMA_NO_NODE).unwrap_or(0);
            if v == 0 {
                rv = -1;
                break;
            }
            c.store(v, &[b'a'; 1]);
            c.cpu.vm_unmap_ram(v, n as u64);
        }
    }
    for p in pages {
        c.cpu.free_pages(p, 0);
    }
    rv
}

fn no_block_alloc_test(c: &Ctx<'_, '_>) -> i32 {
    // GFP_ATOMIC / GFP_NOWAIT take the GFP_KERNEL path: the model never sleeps.
    alloc_write_free(c, c.nr_pages(), 0, "fix_size_alloc_test")
}

fn vrealloc_test(c: &Ctx<'_, '_>) -> i32 {
    for _ in 0..c.p.test_loop_count {
        let mut p = c.vmalloc(PAGE_SIZE, "vrealloc_test");
        if p == 0 {
            return -1;
        }
        c.store(p, b"a");
        for size in [4 * PAGE_SIZE, PAGE_SIZE, PAGE_SIZE / 2, PAGE_SIZE] {
            let n = c.cpu.vrealloc(p, size, GFP_KERNEL).unwrap_or(0);
            if n == 0 {
                c.vfree(p);
                return -1;
            }
            p = n;
            if c.load(p, 1).as_deref() != Some(b"a") {
                c.vfree(p);
                return -1;
            }
        }
        c.vfree(p);
    }
    0
}

/// `test_case_array` (the linux-mm version's order; bit i of `run_test_mask` is test i).
pub static TESTS: &[TestCase] = &[
    TestCase {
        name: "fix_size_alloc_test",
        xfail: false,
        run: fix_size_alloc_test,
    },
    TestCase {
        name: "full_fit_alloc_test",
        xfail: false,
        run: full_fit_alloc_test,
    },
    TestCase {
        name: "long_busy_list_alloc_test",
        xfail: false,
        run: long_busy_list_alloc_test,
    },
    TestCase {
        name: "random_size_alloc_test",
        xfail: false,
        run: random_size_alloc_test,
    },
    TestCase {
        name: "fix_align_alloc_test",
        xfail: false,
        run: fix_align_alloc_test,
    },
    TestCase {
        name: "random_size_align_alloc_test",
        xfail: false,
        run: random_size_align_alloc_test,
    },
    TestCase {
        name: "align_shift_alloc_test",
        xfail: true,
        run: align_shift_alloc_test,
    },
    TestCase {
        name: "pcpu_alloc_test",
        xfail: false,
        run: pcpu_alloc_test,
    },
    TestCase {
        name: "kvfree_rcu_1_arg_vmalloc_test",
        xfail: false,
        run: kvfree_rcu_vmalloc_test,
    },
    TestCase {
        name: "kvfree_rcu_2_arg_vmalloc_test",
        xfail: false,
        run: kvfree_rcu_vmalloc_test,
    },
    TestCase {
        name: "vm_map_ram_test",
        xfail: false,
        run: vm_map_ram_test,
    },
    TestCase {
        name: "no_block_alloc_test",
        xfail: true,
        run: no_block_alloc_test,
    },
    TestCase {
        name: "vrealloc_test",
        xfail: false,
        run: vrealloc_test,
    },
];

/// One test's counts on one worker (`struct test_case_data`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestData {
    pub passed: u32,
    pub failed: u32,
    pub xfailed: u32,
    /// Average microseconds per repeat.
    pub time_usec: u64,
}

/// One worker's results (`struct test_driver`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Worker {
    /// Per test id, for the selected tests.
    pub data: Vec<(usize, TestData)>,
    /// `stop - start` in the caller's cycles.
    pub took_cycles: u64,
}

/// Why the module could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestVmallocError {
    /// More workers than simulated CPUs (each worker holds one).
    TooManyThreads {
        nr_threads: u32,
        cpus: u32,
    },
    /// The mask selects no test of the module.
    NoTests(u32),
    /// vmalloc is not up on this machine.
    NotUp,
    Cpu(String),
}

impl core::fmt::Display for TestVmallocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TestVmallocError::TooManyThreads { nr_threads, cpus } => write!(
                f,
                "nr_threads={nr_threads}: each worker runs on a simulated CPU of its own and this machine has {cpus} (use --cpus)"
            ),
            TestVmallocError::NoTests(m) => write!(
                f,
                "run_test_mask={m:#x} selects none of the {} tests",
                TESTS.len()
            ),
            TestVmallocError::NotUp => {
                f.write_str("vmalloc is not up on this machine (vmalloc_init did not run)")
            }
            TestVmallocError::Cpu(e) => f.write_str(e),
        }
    }
}

/// The caller's clocks (the core has none): monotonic nanoseconds for the averages, and a
/// cycle counter (the TSC on x86) for the "All test took" lines.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub ns: fn() -> u64,
    pub cycles: fn() -> u64,
}

/// `do_concurrent_test`: run the selected tests on `nr_threads` workers, one simulated CPU
/// each, and print the module's lines into the kernel log. Returns each worker's results.
///
/// # Errors
/// [`TestVmallocError`]: nothing ran.
pub fn run(k: &mut Kernel, p: &Params, clock: Clock) -> Result<Vec<Worker>, TestVmallocError> {
    if !k.vmalloc.initialized() {
        return Err(TestVmallocError::NotUp);
    }
    let mask = p.run_test_mask & ((1u32 << TESTS.len()) - 1);
    if mask == 0 {
        return Err(TestVmallocError::NoTests(p.run_test_mask));
    }
    let nr_threads = p.nr_threads.clamp(1, u32::from(u16::MAX));
    let cpus = k.cpus.nr_cpu_ids();
    if nr_threads > cpus {
        return Err(TestVmallocError::TooManyThreads { nr_threads, cpus });
    }
    k.smp_init()
        .map_err(|e| TestVmallocError::Cpu(alloc::format!("{e}")))?;
    let k: &Kernel = k;
    let workers: Vec<Result<Worker, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..nr_threads)
            .map(|i| s.spawn(move || worker(k, i, p, mask, clock)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(String::from("a worker panicked")))
            })
            .collect()
    });
    let workers: Vec<Worker> = workers
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(TestVmallocError::Cpu)?;
    for l in summary(p, &workers).lines() {
        crate::pr_info!(k.printk, "{l}\n");
    }
    Ok(workers)
}

/// `test_func`: one worker's run of the selected tests.
fn worker(k: &Kernel, i: u32, p: &Params, mask: u32, clock: Clock) -> Result<Worker, String> {
    let cpu = k.cpu(i).map_err(|e| alloc::format!("{e}"))?;
    cpu.set_comm(&alloc::format!("vmalloc_test/{i}"));
    let c = Ctx {
        cpu: &cpu,
        p,
        rng: core::cell::Cell::new(
            0x9e37_79b9_7f4a_7c15 ^ (u64::from(i) + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
        ),
    };
    let mut order: Vec<usize> = (0..TESTS.len()).collect();
    if !p.sequential_test_order {
        // shuffle_array: a Fisher-Yates shuffle with the worker's random numbers.
        for j in (1..order.len()).rev() {
            let r = c.random() as usize % (j + 1);
            order.swap(j, r);
        }
    }
    let start = (clock.cycles)();
    let mut data: Vec<(usize, TestData)> = Vec::new();
    for &id in &order {
        if mask & (1 << id) == 0 {
            continue;
        }
        let t = &TESTS[id];
        let mut d = TestData::default();
        let t0 = (clock.ns)();
        for _ in 0..p.test_repeat_count {
            let ret = (t.run)(&c);
            match (ret == 0, t.xfail) {
                (true, _) => d.passed += 1,
                (false, true) => d.xfailed += 1,
                (false, false) => d.failed += 1,
            }
        }
        let delta = (clock.ns)().saturating_sub(t0);
        d.time_usec = delta / 1000 / u64::from(p.test_repeat_count.max(1));
        data.push((id, d));
    }
    data.sort_by_key(|(id, _)| *id);
    let took_cycles = (clock.cycles)().saturating_sub(start);
    Ok(Worker { data, took_cycles })
}

/// The module's lines as printed (for a caller that wants them without the rest of the log).
pub fn summary(p: &Params, workers: &[Worker]) -> String {
    let mut s = String::new();
    for (i, w) in workers.iter().enumerate() {
        for (id, d) in &w.data {
            let _ = writeln!(
                s,
                "Summary: {} passed: {} failed: {} xfailed: {} repeat: {} loops: {} avg: {} usec",
                TESTS[*id].name,
                d.passed,
                d.failed,
                d.xfailed,
                p.test_repeat_count,
                p.test_loop_count,
                d.time_usec
            );
        }
        let _ = writeln!(s, "All test took worker{i}={} cycles", w.took_cycles);
    }
    s
}
