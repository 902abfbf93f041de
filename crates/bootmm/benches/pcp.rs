// SPDX-License-Identifier: GPL-2.0-only
//! The per-CPU page lists against the zone->lock path and against other allocators.
//!
//! Workloads, each step one allocation and one free (an "alloc+free pair"):
//! `pair0` allocates an order-0 page and frees it at once (the kernel's page_bench01, which
//! Linux's own allocator runs in about 46 ns a pair); `churn0` keeps 4096 order-0 pages
//! live and replaces the oldest each step. bootmm runs them on a booted 1 GiB machine
//! (6.6, 2 CPUs) through a simulated CPU ([`bootmm::kernel::smp::Cpu`]): `bootmm pcp` as
//! booted, `bootmm buddy` after `zone_pcp_disable` on every zone (high 0, batch 1: every
//! block to and from the buddy lists under `zone->lock`). The peers serve the same page
//! counts from a 1 GiB pool, naturally aligned, bare and behind a spin lock as a kernel
//! would share them.
//!
//! Threads: `pair0` on 1 and 2 OS threads, each bound to its own simulated CPU (bootmm) or
//! sharing the peer behind its lock; ns per op is wall time over all threads' pairs.
//!
//! Rounds interleave the allocators (each runs ~100 ms in turn, the best of 5 rounds
//! counts), so that a change in the machine's load touches them all alike. The table goes
//! to stdout with ratios, and to `target/bench/pcp.csv` (workload, allocator, threads,
//! ns_per_op).
//!
//! Run: `cargo bench -p bootmm --bench pcp`.

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use bootmm::include::gfp::{gfp_constant, Gfp};
use bootmm::init::main::start_kernel;
use bootmm::kernel::smp::Cpu;
use bootmm::mm::page_alloc::{zone_pcp_disable, ZoneRef};
use bootmm::{Era, Kernel, KernelVersion, Machine};

mod peers;
use peers::{Bsa, Locked, PageAllocator, Rlsf, Talc, POOL};

/// A booted kernel, leaked: the simulated CPUs borrow it for the rest of the run.
fn kernel(pcp: bool) -> &'static Kernel {
    let mut m = Machine::qemu(POOL as u64, 2).unwrap();
    m.era = Era::new(KernelVersion::new(6, 6, 0), bootmm::Arch::X86_64);
    let mut k = Kernel::new(m).unwrap();
    start_kernel(&mut k).unwrap();
    k.smp_init().unwrap();
    let k: &'static Kernel = Box::leak(Box::new(k));
    if !pcp {
        let refs: Vec<ZoneRef> = k
            .page_alloc()
            .zones()
            .map(|z| ZoneRef {
                nid: z.node,
                zone_idx: z.idx,
            })
            .collect();
        for r in refs {
            zone_pcp_disable(k, r);
        }
    }
    k
}

struct Bootmm {
    cpu: Cpu<'static>,
    gfp: Gfp,
}

impl Bootmm {
    fn on(k: &'static Kernel, cpu: u32) -> Self {
        let gfp = gfp_constant(&k.era, "GFP_KERNEL").unwrap();
        Bootmm {
            cpu: k.cpu(cpu).unwrap(),
            gfp,
        }
    }
}

impl PageAllocator for Bootmm {
    #[inline]
    fn alloc(&mut self, order: u32) -> usize {
        let p = self.cpu.alloc_pages(self.gfp, order).unwrap().unwrap();
        p.as_ptr() as usize
    }
    #[inline]
    fn free(&mut self, h: usize, order: u32) {
        let p = NonNull::new(h as *mut bootmm::include::mm_types::Page).unwrap();
        self.cpu.free_pages(p, order);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Pair0,
    Churn0,
}

/// A workload in progress on one allocator handle.
struct Run {
    a: Box<dyn PageAllocator + Send>,
    live: Vec<usize>,
    i: usize,
    w: Workload,
}

impl Run {
    fn new(mut a: Box<dyn PageAllocator + Send>, w: Workload) -> Run {
        let n = if w == Workload::Churn0 { 4096 } else { 0 };
        let live = (0..n).map(|_| a.alloc(0)).collect();
        Run { a, live, i: 0, w }
    }

    #[inline]
    fn step(&mut self) {
        if self.w == Workload::Pair0 {
            let h = black_box(self.a.alloc(0));
            self.a.free(h, 0);
            return;
        }
        self.i += 1;
        if self.i == self.live.len() {
            self.i = 0;
        }
        self.a.free(self.live[self.i], 0);
        self.live[self.i] = black_box(self.a.alloc(0));
    }
}

impl Timed for Run {
    #[inline]
    fn step(&mut self) {
        Run::step(self)
    }
}

/// An allocator of the table: its handles, one per thread.
struct Entry {
    name: &'static str,
    handles: fn(threads: u32) -> Vec<Box<dyn PageAllocator + Send>>,
}

fn entries() -> Vec<Entry> {
    fn bootmm_on(pcp: bool, threads: u32) -> Vec<Box<dyn PageAllocator + Send>> {
        let k = kernel(pcp);
        (0..threads)
            .map(|c| Box::new(Bootmm::on(k, c)) as Box<dyn PageAllocator + Send>)
            .collect()
    }
    fn peer<A: PageAllocator + Send + 'static>(
        threads: u32,
        make: fn() -> A,
        lock: bool,
    ) -> Vec<Box<dyn PageAllocator + Send>> {
        if !lock {
            assert_eq!(threads, 1);
            return vec![Box::new(make())];
        }
        let s: &'static Locked<A> = Box::leak(Box::new(peers::locked(make())));
        (0..threads)
            .map(|_| Box::new(s) as Box<dyn PageAllocator + Send>)
            .collect()
    }
    vec![
        Entry {
            name: "bootmm pcp",
            handles: |t| bootmm_on(true, t),
        },
        Entry {
            name: "bootmm buddy",
            handles: |t| bootmm_on(false, t),
        },
        Entry {
            name: "buddy_system_allocator",
            handles: |t| peer(t, Bsa::new, false),
        },
        Entry {
            name: "talc",
            handles: |t| peer(t, Talc::new, false),
        },
        Entry {
            name: "rlsf",
            handles: |t| peer(t, Rlsf::new, false),
        },
        Entry {
            name: "buddy_system_allocator+lock",
            handles: |t| peer(t, Bsa::new, true),
        },
        Entry {
            name: "talc+lock",
            handles: |t| peer(t, Talc::new, true),
        },
        Entry {
            name: "rlsf+lock",
            handles: |t| peer(t, Rlsf::new, true),
        },
    ]
}

/// ns of one uncontended `lock cmpxchg` and a release store on a host word: the floor of
/// any fast path that takes a lock.
fn cas_cost() -> f64 {
    use std::sync::atomic::{AtomicU32, Ordering::*};
    let a = AtomicU32::new(0);
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..10_000_000 {
            let _ = black_box(a.compare_exchange(0, 1, Acquire, Relaxed));
            a.store(0, Release);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / 1e7);
    }
    best
}

use peers::{Timed, ROUNDS, ROUND_NS};

/// ns per pair of each allocator on one thread, best of the interleaved rounds.
fn single(w: Workload, all: &[Entry]) -> Vec<f64> {
    let mut runs: Vec<Run> = all
        .iter()
        .map(|e| Run::new((e.handles)(1).pop().unwrap(), w))
        .collect();
    peers::best_of_rounds(&mut runs)
}

/// Wall ns per pair with `threads` threads on one allocator's handles.
fn threaded(e: &Entry, w: Workload, threads: u32) -> f64 {
    let mut runs: Vec<Run> = (e.handles)(threads)
        .into_iter()
        .map(|h| Run::new(h, w))
        .collect();
    let n = ((ROUND_NS / runs[0].time(20_000)) as u64).clamp(20_000, 50_000_000);
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::thread::scope(|s| {
            for r in runs.iter_mut() {
                s.spawn(move || {
                    for _ in 0..n {
                        r.step();
                    }
                });
            }
        });
        best = best.min(t.elapsed().as_nanos() as f64 / (n * u64::from(threads)) as f64);
    }
    best
}

fn main() {
    let all = entries();
    // PCP_PROFILE=pair0|churn0: only one allocator's loop (PCP_ALLOC, "bootmm pcp" unless
    // set) for PCP_STEPS pairs (20 million unless set), for a profiler.
    if let Ok(w) = std::env::var("PCP_PROFILE") {
        if w == "cas" {
            println!("{:.2} ns per lock cmpxchg + release store", cas_cost());
            return;
        }
        let w = if w == "churn0" {
            Workload::Churn0
        } else {
            Workload::Pair0
        };
        let who = std::env::var("PCP_ALLOC").unwrap_or_else(|_| "bootmm pcp".into());
        let steps: u64 = std::env::var("PCP_STEPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_000_000);
        let Some(e) = all.iter().find(|e| e.name == who) else {
            eprintln!("PCP_ALLOC: no allocator named {who:?}");
            std::process::exit(2);
        };
        let mut r = Run::new((e.handles)(1).pop().unwrap(), w);
        println!("{who}: {:.1} ns per pair", r.time(steps));
        return;
    }
    let mut csv = String::from("workload,allocator,threads,ns_per_op\n");
    let workloads = [(Workload::Pair0, "pair0"), (Workload::Churn0, "churn0")];
    let mut res = Vec::new();
    for (w, wname) in workloads {
        let r = single(w, &all);
        for (e, ns) in all.iter().zip(&r) {
            csv += &format!("{wname},{},1,{ns:.2}\n", e.name);
        }
        res.push(r);
    }
    println!("\nns per alloc+free pair, one thread (best of {ROUNDS} interleaved rounds of ~{} ms); ratio = allocator / bootmm pcp (>1: bootmm pcp is faster):", ROUND_NS / 1e6);
    let mut head = format!("{:<28}", "allocator");
    for (_, name) in workloads {
        head += &format!(" {name:>10} {:>8}", "ratio");
    }
    println!("{head}");
    for (i, e) in all.iter().enumerate() {
        let mut row = format!("{:<28}", e.name);
        for r in &res {
            row += &format!(" {:>10.1} {:>8.2}", r[i], r[i] / r[0]);
        }
        println!("{row}");
    }
    println!("\npair0 on 1 and 2 threads (wall ns per pair over all threads; speed-up = 1-thread ns / 2-thread ns):");
    println!(
        "{:<28} {:>10} {:>10} {:>9}",
        "allocator", "1 thread", "2 threads", "speed-up"
    );
    for e in all
        .iter()
        .filter(|e| e.name.starts_with("bootmm") || e.name.ends_with("+lock"))
    {
        let one = threaded(e, Workload::Pair0, 1);
        let two = threaded(e, Workload::Pair0, 2);
        csv += &format!("pair0,{},1,{one:.2}\npair0,{},2,{two:.2}\n", e.name, e.name);
        println!("{:<28} {one:>10.1} {two:>10.1} {:>9.2}", e.name, one / two);
    }
    println!(
        "\none uncontended lock cmpxchg + release store on this machine: {:.1} ns (the pcp pair takes three locked operations: put_page_testzero and the two pcp->lock trylocks)",
        cas_cost()
    );
    peers::write_csv("pcp", &csv);
    println!("\nwritten: target/bench/pcp.csv");
}
