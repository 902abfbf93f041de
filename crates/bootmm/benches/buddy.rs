// SPDX-License-Identifier: GPL-2.0-only
//! The buddy allocator's zone->lock path against other allocators serving page blocks.
//!
//! Three workloads, each step one free and one allocation (an "alloc+free pair"):
//! `churn0` keeps 4096 order-0 pages live and replaces the oldest each step; `split0`
//! allocates one order-0 page from an otherwise untouched pool and frees it at once (a buddy
//! allocator splits a MAX_ORDER block down and merges it back every time: the slow path of
//! an allocator without a per-CPU cache); `mixed` keeps 1024 blocks of random orders 0–6
//! (mostly small) live and replaces a random one. bootmm
//! runs them through `alloc_pages`/`__free_pages` on a booted 1 GiB machine whose pagesets
//! `zone_pcp_disable` turned off (so every call takes `zone->lock`; benches/pcp.rs measures
//! the per-CPU lists);
//! `buddy_system_allocator`'s FrameAllocator, `talc` and `rlsf` serve the same page counts
//! from a 1 GiB pool, naturally aligned as buddy blocks are, on the same sequence of
//! requests. Every allocation's result goes through `black_box`.
//!
//! bootmm takes `zone->lock` on every call, as the kernel does; the peers are measured
//! bare, as their crates' unsynchronised types are used, and again behind the same kind
//! of spin lock, as a kernel would share them. Criterion measures each; then a table of
//! ns per pair and ratios is printed, from interleaved rounds (each allocator in turn, the
//! best round counting) so that a change in the machine's load touches them all alike.
//!
//! Run: `cargo bench -p bootmm --bench buddy` (`-- zzz` skips criterion's part and prints
//! only the table). `scripts/buddy-instructions.sh` counts instructions per pair instead,
//! which does not depend on the machine's load.

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use bootmm::include::gfp::{gfp_constant, Gfp};
use bootmm::include::mm_types::Page;
use bootmm::init::main::start_kernel;
use bootmm::mm::page_alloc::{__free_pages, alloc_pages};
use bootmm::{Kernel, Machine};
use criterion::{criterion_group, Criterion};

mod peers;
use peers::{locked, Bsa, PageAllocator, Rlsf, Talc, POOL};

struct Bootmm {
    k: Kernel,
    gfp: Gfp,
}

impl Bootmm {
    fn new() -> Self {
        let mut k = Kernel::new(Machine::qemu(POOL as u64, 1).unwrap()).unwrap();
        start_kernel(&mut k).unwrap();
        k.trace.set_recording(false);
        // The zone->lock path: every zone's pagesets disabled (high 0, batch 1), as
        // zone_pcp_disable leaves them; benches/pcp.rs measures the pcp lists.
        let refs: Vec<bootmm::mm::page_alloc::ZoneRef> = k
            .page_alloc()
            .zones()
            .map(|z| bootmm::mm::page_alloc::ZoneRef {
                nid: z.node,
                zone_idx: z.idx,
            })
            .collect();
        for r in refs {
            bootmm::mm::page_alloc::zone_pcp_disable(&k, r);
        }
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

/// The workloads of the table, in its column order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Churn0,
    Split0,
    Mixed,
}

const WORKLOADS: [(Workload, &str); 3] = [
    (Workload::Churn0, "churn0"),
    (Workload::Split0, "split0"),
    (Workload::Mixed, "mixed"),
];

/// A workload in progress on one allocator.
struct Run<A: PageAllocator> {
    a: A,
    live: Vec<(usize, u32)>,
    i: usize,
    rng: Rng,
    w: Workload,
}

impl<A: PageAllocator> Run<A> {
    fn new(mut a: A, w: Workload) -> Self {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mixed = w == Workload::Mixed;
        let n = match w {
            Workload::Churn0 => 4096,
            Workload::Split0 => 0,
            Workload::Mixed => 1024,
        };
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
            w,
        }
    }

    /// One alloc+free pair. The slot is picked without a division (a multiply-shift for
    /// the random one), so that the harness adds as little as possible to every allocator.
    #[inline]
    fn step(&mut self) {
        if self.w == Workload::Split0 {
            let h = black_box(self.a.alloc(0));
            self.a.free(h, 0);
            return;
        }
        let mixed = self.w == Workload::Mixed;
        let idx = if mixed {
            ((u128::from(self.rng.next()) * self.live.len() as u128) >> 64) as usize
        } else {
            self.i += 1;
            if self.i == self.live.len() {
                self.i = 0;
            }
            self.i
        };
        let (h, o) = self.live[idx];
        self.a.free(h, o);
        let o = if mixed { self.rng.order() } else { 0 };
        self.live[idx] = (black_box(self.a.alloc(o)), o);
    }
}

/// An allocator with a workload set up, ready to step.
type Stepper = Box<dyn FnMut()>;

fn start<A: PageAllocator + 'static>(a: A, w: Workload) -> Stepper {
    let mut r = Run::new(a, w);
    Box::new(move || r.step())
}

/// How to start an allocator on a workload.
type Make = fn(Workload) -> Stepper;

/// Every allocator compared, with its name. The peers run bare (as the crates'
/// unsynchronised types are used) and then locked.
fn allocators() -> Vec<(&'static str, Make)> {
    vec![
        ("bootmm buddy", |m| start(Bootmm::new(), m)),
        ("buddy_system_allocator", |m| start(Bsa::new(), m)),
        ("talc", |m| start(Talc::new(), m)),
        ("rlsf", |m| start(Rlsf::new(), m)),
        ("buddy_system_allocator+lock", |m| {
            start(locked(Bsa::new()), m)
        }),
        ("talc+lock", |m| start(locked(Talc::new()), m)),
        ("rlsf+lock", |m| start(locked(Rlsf::new()), m)),
    ]
}

fn benches(c: &mut Criterion) {
    for (w, name) in WORKLOADS {
        let mut g = c.benchmark_group(name);
        for (name, make) in allocators() {
            let mut step = make(w);
            g.bench_function(name, |b| b.iter(&mut step));
        }
        g.finish();
    }
}

/// ns per pair over `n` steps.
fn time_steps(step: &mut Stepper, n: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        step();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

/// Rounds of the table; in each, every allocator runs for about `ROUND_NS` in turn, so
/// that a change in the machine's load touches them all alike. The best round counts.
const ROUNDS: usize = 7;
const ROUND_NS: f64 = 100e6;

fn table() {
    let all = allocators();
    let mut res = vec![[0f64; WORKLOADS.len()]; all.len()];
    for (col, (w, _)) in WORKLOADS.into_iter().enumerate() {
        let mut steps: Vec<Stepper> = all.iter().map(|(_, make)| make(w)).collect();
        // Calibrate: how many pairs make a round.
        let n: Vec<u64> = steps
            .iter_mut()
            .map(|s| ((ROUND_NS / time_steps(s, 2000)) as u64).clamp(2000, 5_000_000))
            .collect();
        let mut best = vec![f64::MAX; all.len()];
        for _ in 0..ROUNDS {
            for (i, s) in steps.iter_mut().enumerate() {
                best[i] = best[i].min(time_steps(s, n[i]));
            }
        }
        for (r, b) in res.iter_mut().zip(best) {
            r[col] = b;
        }
    }
    let mut csv = String::from("workload,allocator,threads,ns_per_op\n");
    for (i, (name, _)) in all.iter().enumerate() {
        for (col, (_, w)) in WORKLOADS.iter().enumerate() {
            csv += &format!("{w},{name},1,{:.2}\n", res[i][col]);
        }
    }
    peers::write_csv("buddy", &csv);
    println!("\nns per alloc+free pair (best of {ROUNDS} interleaved rounds of ~{} ms) and ratio to bootmm (>1: bootmm is faster):", ROUND_NS / 1e6);
    let mut head = format!("{:<28}", "allocator");
    for (_, name) in WORKLOADS {
        head += &format!(" {name:>10} {:>8}", "ratio");
    }
    println!("{head}");
    for (i, (name, _)) in all.iter().enumerate() {
        let mut row = format!("{name:<28}");
        for (col, r) in res[i].iter().enumerate() {
            row += &format!(" {r:>10.1} {:>8.2}", r / res[0][col]);
        }
        println!("{row}");
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
    // BUDDY_PROFILE=churn0|split0|mixed: only run one allocator's loop, for a profiler (BUDDY_STEPS pairs,
    // 20 million unless set).
    if let Ok(w) = std::env::var("BUDDY_PROFILE") {
        let steps: u64 = std::env::var("BUDDY_STEPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_000_000);
        // BUDDY_ALLOC names another allocator of the table to profile instead.
        let who = std::env::var("BUDDY_ALLOC").unwrap_or_else(|_| "bootmm buddy".into());
        let Some((_, make)) = allocators().into_iter().find(|(n, _)| *n == who) else {
            eprintln!("BUDDY_ALLOC: no allocator named {who:?}");
            std::process::exit(2);
        };
        let Some((w, _)) = WORKLOADS.into_iter().find(|(_, n)| *n == w) else {
            eprintln!("BUDDY_PROFILE: no workload named {w:?}");
            std::process::exit(2);
        };
        let mut step = make(w);
        for _ in 0..steps {
            step();
        }
        return;
    }
    group();
    Criterion::default().configure_from_args().final_summary();
    table();
}
