// SPDX-License-Identifier: GPL-2.0-only
//! `bootmm test-vmalloc`: boot the machine and run the kernel's test_vmalloc module
//! (lib/test_vmalloc.c) on it, with the module's parameters, printing its `Summary:` lines.
//! Exits 1 when a selected test failed.

use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use bootmm::klib::test_vmalloc::{self, Clock, Params};

use crate::exit;
use crate::machine_args::MachineArgs;

#[derive(clap::Args, Clone, Debug)]
pub struct TestVmallocArgs {
    /// Bit i selects test i (0 fix_size, 1 full_fit, 2 long_busy_list, 3 random_size,
    /// 4 fix_align, 5 random_size_align, 6 align_shift (xfail), 7 pcpu_alloc, 8 and 9
    /// kvfree_rcu, 10 vm_map_ram, 11 no_block (xfail), 12 vrealloc); the module's default
    /// is 7 (the first three)
    #[arg(long, value_name = "MASK", default_value = "7", value_parser = parse_mask)]
    pub run_test_mask: u32,
    /// Workers, each on a simulated CPU of its own (0 means 1, as in the module)
    #[arg(long, default_value_t = 0)]
    pub nr_threads: u32,
    /// Loops of each test (the module's default is 1000000)
    #[arg(long, default_value_t = 1_000_000)]
    pub test_loop_count: u32,
    /// Runs of each test
    #[arg(long, default_value_t = 1)]
    pub test_repeat_count: u32,
    /// Pages of fix_size, vm_map_ram and no_block (0 means 1)
    #[arg(long, default_value_t = 0)]
    pub nr_pages: u32,
    /// Run the tests in order rather than shuffled per worker
    #[arg(long)]
    pub sequential_test_order: bool,
    /// Objects pcpu_alloc_test allocates
    #[arg(long, default_value_t = 35000)]
    pub nr_pcpu_objects: u32,
    #[command(flatten)]
    pub machine: MachineArgs,
}

fn parse_mask(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

fn now_ns() -> u64 {
    static T0: OnceLock<Instant> = OnceLock::new();
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        now_ns()
    }
}

pub fn run(a: &TestVmallocArgs) -> ExitCode {
    let mut k = match crate::boot::boot_machine(&a.machine) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let p = Params {
        nr_threads: a.nr_threads,
        sequential_test_order: a.sequential_test_order,
        test_repeat_count: a.test_repeat_count.max(1),
        test_loop_count: a.test_loop_count,
        nr_pages: a.nr_pages,
        use_huge: false,
        run_test_mask: a.run_test_mask,
        nr_pcpu_objects: a.nr_pcpu_objects,
    };
    let clock = Clock { ns: now_ns, cycles };
    match test_vmalloc::run(&mut k, &p, clock) {
        Ok(workers) => {
            print!("{}", test_vmalloc::summary(&p, &workers));
            let failed = workers
                .iter()
                .flat_map(|w| w.data.iter())
                .any(|(_, d)| d.failed != 0);
            if failed {
                ExitCode::from(exit::FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("bootmm: test-vmalloc: {e}");
            ExitCode::from(exit::INPUT)
        }
    }
}
