// SPDX-License-Identifier: GPL-2.0-only
//! kmalloc + kfree on SLUB against general-purpose allocators.
//!
//! Workloads, each step one allocation and one free (a "pair"):
//! - `fixed-N`: allocate N bytes and free them at once, for N in 8, 64, 256, 1024, 4096
//!   (SLUB's own fast path is about 10.5 ns a pair on real hardware);
//! - `random`: keep 4096 objects live, each step freeing a random one and allocating a
//!   random size in its place (sizes 8 to 4096 bytes, more small than large: a log-uniform
//!   draw from a fixed table, the same sequence for every allocator).
//!
//! bootmm runs on a booted 1 GiB machine (6.6, 2 CPUs) through a simulated CPU
//! ([`bootmm::kernel::smp::Cpu::kmalloc`]); the peers are mimalloc and the system's malloc
//! (glibc), called directly. Every allocator writes one byte into each object it hands out.
//! Rounds interleave the allocators (each runs ~100 ms in turn; the best of 5 rounds
//! counts). The table goes to stdout with ratios and to `target/bench/slub.csv` (workload,
//! allocator, threads, ns_per_op).
//!
//! Run: `cargo bench -p bootmm --bench slub`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use bootmm::include::gfp::{gfp_constant, Gfp};
use bootmm::kernel::smp::Cpu;
use bootmm::VirtAddr;

mod peers;

trait Kmalloc {
    fn alloc(&mut self, size: usize) -> usize;
    fn free(&mut self, p: usize, size: usize);
}

struct Bootmm {
    cpu: Cpu<'static>,
    gfp: Gfp,
    /// Host address minus kernel address of the direct map.
    delta: usize,
}

impl Bootmm {
    fn new() -> Bootmm {
        let k = peers::booted_6_6();
        let base = k.phys.host_ptr(bootmm::PhysAddr(0), 1).unwrap().as_ptr() as usize;
        let delta = base.wrapping_sub(k.phys.va(bootmm::PhysAddr(0)).0 as usize);
        Bootmm {
            cpu: k.cpu(0).unwrap(),
            gfp: gfp_constant(&k.era, "GFP_KERNEL").unwrap(),
            delta,
        }
    }
}

impl Kmalloc for Bootmm {
    #[inline]
    fn alloc(&mut self, size: usize) -> usize {
        let p = self.cpu.kmalloc(size as u64, self.gfp).unwrap();
        // The object is usable memory: touch it through its host address.
        let h = (p as usize).wrapping_add(self.delta) as *mut u8;
        // SAFETY: kmalloc returned a live object of at least `size` bytes in simulated RAM.
        unsafe { h.write_volatile(1) };
        let _ = VirtAddr(p);
        p as usize
    }
    #[inline]
    fn free(&mut self, p: usize, _size: usize) {
        self.cpu.kfree(p as u64).unwrap();
    }
}

struct Mimalloc;

impl Kmalloc for Mimalloc {
    #[inline]
    fn alloc(&mut self, size: usize) -> usize {
        // SAFETY: a non-zero size with alignment 8.
        let p = unsafe { mimalloc::MiMalloc.alloc(Layout::from_size_align_unchecked(size, 8)) };
        // SAFETY: a live allocation of `size` bytes.
        unsafe { p.write_volatile(1) };
        p as usize
    }
    #[inline]
    fn free(&mut self, p: usize, size: usize) {
        // SAFETY: allocated above with this layout.
        unsafe {
            mimalloc::MiMalloc.dealloc(p as *mut u8, Layout::from_size_align_unchecked(size, 8))
        }
    }
}

struct Glibc;

impl Kmalloc for Glibc {
    #[inline]
    fn alloc(&mut self, size: usize) -> usize {
        // SAFETY: as for mimalloc.
        let p = unsafe { System.alloc(Layout::from_size_align_unchecked(size, 8)) };
        // SAFETY: a live allocation of `size` bytes.
        unsafe { p.write_volatile(1) };
        p as usize
    }
    #[inline]
    fn free(&mut self, p: usize, size: usize) {
        // SAFETY: allocated above with this layout.
        unsafe { System.dealloc(p as *mut u8, Layout::from_size_align_unchecked(size, 8)) }
    }
}

#[derive(Clone, Copy)]
enum Workload {
    Fixed(usize),
    Random,
}

const LIVE: usize = 4096;

/// The random workload's sizes: log-uniform over 8..=4096, from a fixed LCG.
fn sizes() -> Vec<usize> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..1 << 16)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let shift = 3 + (x >> 33) % 10; // 8 .. 4096
            let base = 1usize << shift;
            base + ((x >> 13) as usize % base).min(4096 - base)
        })
        .collect()
}

struct Run {
    a: Box<dyn Kmalloc>,
    w: Workload,
    live: Vec<(usize, usize)>,
    sizes: Vec<usize>,
    i: usize,
}

impl Run {
    fn new(mut a: Box<dyn Kmalloc>, w: Workload) -> Run {
        let sizes = sizes();
        let live = match w {
            Workload::Fixed(_) => Vec::new(),
            Workload::Random => (0..LIVE).map(|i| (a.alloc(sizes[i]), sizes[i])).collect(),
        };
        Run {
            a,
            w,
            live,
            sizes,
            i: 0,
        }
    }

    #[inline]
    fn step(&mut self) {
        match self.w {
            Workload::Fixed(n) => {
                let p = black_box(self.a.alloc(n));
                self.a.free(p, n);
            }
            Workload::Random => {
                self.i = (self.i + 1) & (self.sizes.len() - 1);
                let size = self.sizes[self.i];
                let slot = (self.i * 2654435761) & (LIVE - 1);
                let (p, s) = self.live[slot];
                self.a.free(p, s);
                self.live[slot] = (black_box(self.a.alloc(size)), size);
            }
        }
    }
}

impl Timed for Run {
    #[inline]
    fn step(&mut self) {
        Run::step(self)
    }
}

use peers::{Timed, ROUNDS, ROUND_NS};

fn main() {
    let names = ["bootmm kmalloc", "mimalloc", "glibc malloc"];
    let make = |i: usize| -> Box<dyn Kmalloc> {
        match i {
            0 => Box::new(Bootmm::new()),
            1 => Box::new(Mimalloc),
            _ => Box::new(Glibc),
        }
    };
    let workloads: Vec<(Workload, String)> = [8, 64, 256, 1024, 4096]
        .into_iter()
        .map(|n| (Workload::Fixed(n), format!("fixed-{n}")))
        .chain([(Workload::Random, "random".to_string())])
        .collect();
    // SLUB_PROFILE=WORKLOAD: only bootmm's loop, 50 million pairs, for a profiler.
    if let Ok(w) = std::env::var("SLUB_PROFILE") {
        let Some((w, _)) = workloads.iter().find(|(_, n)| *n == w) else {
            eprintln!("SLUB_PROFILE: no workload {w:?}");
            std::process::exit(2);
        };
        let mut r = Run::new(make(0), *w);
        println!("bootmm: {:.2} ns per pair", r.time(50_000_000));
        return;
    }
    let mut csv = String::from("workload,allocator,threads,ns_per_op\n");
    println!(
        "\nns per kmalloc+kfree pair, one thread (best of {ROUNDS} interleaved rounds of ~{} ms); ratio = allocator / bootmm (>1: bootmm is faster):",
        ROUND_NS / 1e6
    );
    let mut head = format!("{:<12}", "workload");
    for n in names {
        head += &format!(" {n:>15}");
    }
    head += &format!(" {:>16}", "mimalloc ratio");
    println!("{head}");
    for (w, wname) in &workloads {
        let mut runs: Vec<Run> = (0..names.len()).map(|i| Run::new(make(i), *w)).collect();
        let best = peers::best_of_rounds(&mut runs);
        let mut row = format!("{wname:<12}");
        for (i, b) in best.iter().enumerate() {
            row += &format!(" {b:>15.1}");
            csv += &format!("{wname},{},1,{b:.2}\n", names[i]);
        }
        row += &format!(" {:>16.2}", best[1] / best[0]);
        println!("{row}");
    }
    peers::write_csv("slub", &csv);
    println!("\nwritten: target/bench/slub.csv");
}
