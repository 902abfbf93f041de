// SPDX-License-Identifier: GPL-2.0-only
//! vmalloc + vfree on the model against what a userspace program uses instead: an
//! anonymous `mmap` + `munmap` of the same size, with the same write.
//!
//! Workloads, named after lib/test_vmalloc.c's tests, each step one allocation, a one-byte
//! write into its first page, and the free:
//! - `fix_size-1`: 1 page (`fix_size_alloc_test`, the module's default `nr_pages`);
//! - `fix_size-4`: 4 pages (16 KiB, the size of the published AMD Milan figure);
//! - `random_size`: 1 to 100 pages (`random_size_alloc_test`), the same sequence for both;
//! - `fix_align`: 5 zeroed pages at 32 KiB alignment (`fix_align_alloc_test`; bootmm
//!   only, mmap has no alignment argument).
//!
//! bootmm runs on a booted 1 GiB machine (6.6, 2 CPUs) through a simulated CPU
//! ([`bootmm::kernel::smp::Cpu::vmalloc`]); the byte is written through the page tables
//! (the walker's physical page). The published column is the kernel's own test_vmalloc
//! average for the same test (ns per pair: Rezki's AMD Milan 16 KiB figure, Axtens' 2019
//! 2-vCPU x86 figures). Rounds interleave the allocators (best of 5). The table goes to
//! stdout with ratios and to `target/bench/vmalloc.csv` (workload, allocator, threads,
//! ns_per_op).
//!
//! Run: `cargo bench -p bootmm --bench vmalloc`.

use std::hint::black_box;

use bootmm::kernel::smp::Cpu;
use bootmm::mm::vmalloc::{VmallocArgs, GFP_KERNEL};

mod peers;

use peers::{Timed, ROUNDS, ROUND_NS};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    FixSize(u64),
    RandomSize,
    FixAlign,
}

/// random_size_alloc_test's page counts, from a fixed generator.
fn page_counts() -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..1 << 12)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + x % 100
        })
        .collect()
}

trait Vm {
    /// Allocate `pages` pages (aligned to `align` when it is more than a page), write one
    /// byte into the first, return the address.
    fn alloc(&mut self, pages: u64, align: u64, zero: bool) -> usize;
    fn free(&mut self, p: usize, pages: u64);
}

struct Bootmm {
    cpu: Cpu<'static>,
}

impl Bootmm {
    fn new() -> Bootmm {
        let k = peers::booted_6_6();
        Bootmm {
            cpu: k.cpu(0).unwrap(),
        }
    }
}

impl Vm for Bootmm {
    #[inline]
    fn alloc(&mut self, pages: u64, align: u64, zero: bool) -> usize {
        let a = VmallocArgs {
            size: pages * 4096,
            align,
            gfp: if zero {
                GFP_KERNEL | bootmm::include::gfp::Gfp::__GFP_ZERO
            } else {
                GFP_KERNEL
            },
            node: -1,
            caller: "fix_size_alloc_test",
        };
        let p = self.cpu.__vmalloc_node(a).unwrap();
        assert_ne!(p, 0);
        // *((__u8 *)ptr) = 0: through the kernel's page tables to the page.
        let k = self.cpu.kernel();
        let pa = bootmm::mm::vmalloc::virt_to_phys_walk(k, p, 1).unwrap();
        let h = k.phys.host_ptr(pa, 1).unwrap();
        // SAFETY: the first byte of a page this vmalloc handed out.
        unsafe { h.as_ptr().write_volatile(0) };
        p as usize
    }
    #[inline]
    fn free(&mut self, p: usize, _pages: u64) {
        self.cpu.vfree(p as u64);
    }
}

struct Mmap;

impl Vm for Mmap {
    #[inline]
    fn alloc(&mut self, pages: u64, _align: u64, _zero: bool) -> usize {
        // SAFETY: a fresh anonymous private mapping; nothing else refers to it.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                (pages * 4096) as usize,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .unwrap();
        // SAFETY: the first byte of the mapping (faults the page in).
        unsafe { p.cast::<u8>().write_volatile(0) };
        p as usize
    }
    #[inline]
    fn free(&mut self, p: usize, pages: u64) {
        // SAFETY: the mapping made above, of this length.
        unsafe { rustix::mm::munmap(p as *mut _, (pages * 4096) as usize) }.unwrap();
    }
}

struct Run {
    a: Box<dyn Vm>,
    w: Workload,
    counts: Vec<u64>,
    i: usize,
}

impl Timed for Run {
    #[inline]
    fn step(&mut self) {
        let (pages, align, zero) = match self.w {
            Workload::FixSize(n) => (n, 1, false),
            Workload::RandomSize => {
                self.i = (self.i + 1) & (self.counts.len() - 1);
                (self.counts[self.i], 1, false)
            }
            Workload::FixAlign => (5, 32 << 10, true),
        };
        let p = black_box(self.a.alloc(pages, align, zero));
        self.a.free(p, pages);
    }
}

fn main() {
    let names = ["bootmm vmalloc", "mmap"];
    // (workload, name, published kernel ns per pair and where from)
    let workloads = [
        (
            Workload::FixSize(1),
            "fix_size-1",
            Some((662.0, "x86 VM 2019")),
        ),
        (
            Workload::FixSize(4),
            "fix_size-4",
            Some((1035.0, "AMD Milan")),
        ),
        (
            Workload::RandomSize,
            "random_size",
            Some((5034.0, "x86 VM 2019")),
        ),
        (
            Workload::FixAlign,
            "fix_align",
            Some((1253.0, "x86 VM 2019")),
        ),
    ];
    if let Ok(w) = std::env::var("VMALLOC_PROFILE") {
        let Some(&(w, _, _)) = workloads.iter().find(|x| x.1 == w) else {
            eprintln!("VMALLOC_PROFILE: no workload {w:?}");
            std::process::exit(2);
        };
        let mut r = Run {
            a: Box::new(Bootmm::new()),
            w,
            counts: page_counts(),
            i: 0,
        };
        println!("bootmm: {:.1} ns per pair", r.time(5_000_000));
        return;
    }
    let mut csv = String::from("workload,allocator,threads,ns_per_op\n");
    println!(
        "\nns per vmalloc+vfree pair with a one-byte write, one thread (best of {ROUNDS} interleaved rounds of ~{} ms); ratio = mmap / bootmm (>1: bootmm is faster):",
        ROUND_NS / 1e6
    );
    println!(
        "{:<12} {:>15} {:>12} {:>8} {:>22}",
        "workload", names[0], names[1], "ratio", "kernel (published)"
    );
    for (w, wname, published) in workloads {
        let with_mmap = w != Workload::FixAlign;
        let mut runs: Vec<Run> = (0..if with_mmap { 2 } else { 1 })
            .map(|i| Run {
                a: if i == 0 {
                    Box::new(Bootmm::new())
                } else {
                    Box::new(Mmap)
                },
                w,
                counts: page_counts(),
                i: 0,
            })
            .collect();
        let best = peers::best_of_rounds(&mut runs);
        for (i, b) in best.iter().enumerate() {
            csv += &format!("{wname},{},1,{b:.2}\n", names[i]);
        }
        let pub_s = published.map_or(String::from("-"), |(ns, src)| format!("{ns:.0} ({src})"));
        if let Some((ns, src)) = published {
            csv += &format!("{wname},linux test_vmalloc ({src}; published),1,{ns:.2}\n");
        }
        if with_mmap {
            println!(
                "{wname:<12} {:>15.1} {:>12.1} {:>8.2} {pub_s:>22}",
                best[0],
                best[1],
                best[1] / best[0]
            );
        } else {
            println!(
                "{wname:<12} {:>15.1} {:>12} {:>8} {pub_s:>22}",
                best[0], "-", "-"
            );
        }
    }
    peers::write_csv("vmalloc", &csv);
    println!("\nwritten: target/bench/vmalloc.csv");
}
