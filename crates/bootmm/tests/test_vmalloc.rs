// SPDX-License-Identifier: GPL-2.0-only
//! The kernel's test_vmalloc module (lib/test_vmalloc.c) on the model, each test with a
//! reduced loop count, on one and on two workers (each its own simulated CPU): every run
//! passes (align_shift_alloc_test is expected to fail and must), and afterwards the vmalloc
//! space is as the boot left it.

use bootmm::era::{Era, KernelVersion};
use bootmm::klib::test_vmalloc::{self, Clock, Params, TESTS};
use bootmm::mm::vmalloc::{free_blocks, vmallocinfo};
use bootmm::{init::main::start_kernel, Kernel, Machine};

fn boot(version: (u32, u32), mem: u64, cpus: u32) -> Kernel {
    let mut m = Machine::qemu(mem, cpus).unwrap();
    m.era = Era::new(KernelVersion::new(version.0, version.1, 0), m.era.arch);
    let mut k = Kernel::new(m).unwrap();
    start_kernel(&mut k).unwrap();
    k
}

fn ns() -> u64 {
    static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    T0.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

const CLOCK: Clock = Clock { ns, cycles: ns };

/// Run test `id` with `loops` loops on `threads` workers; assert the pass criterion.
fn run(id: usize, loops: u32, threads: u32) {
    let mut k = boot((6, 6), 1 << 30, 2);
    let start = free_blocks(&k).unwrap();
    let p = Params {
        nr_threads: threads,
        test_loop_count: loops,
        run_test_mask: 1 << id,
        nr_pcpu_objects: 35000,
        ..Params::default()
    };
    let workers = test_vmalloc::run(&mut k, &p, CLOCK).unwrap();
    assert_eq!(workers.len(), threads as usize);
    let t = &TESTS[id];
    for w in &workers {
        assert_eq!(w.data.len(), 1);
        let d = &w.data[0].1;
        if t.xfail {
            assert_eq!((d.passed, d.failed, d.xfailed), (0, 0, 1), "{}", t.name);
        } else {
            assert_eq!((d.passed, d.failed, d.xfailed), (1, 0, 0), "{}", t.name);
        }
    }
    let log: String = k.printk.lines().iter().map(|l| l.text.clone()).collect();
    assert!(
        log.contains(&format!("Summary: {} passed:", t.name)),
        "{log}"
    );
    // Everything freed: after a purge the free space is one block again, and nothing is
    // listed (the vmap_blocks of vm_map_ram are freed by vm_unmap_aliases).
    let cpu = k.cpu(0).unwrap();
    cpu.vm_unmap_aliases();
    drop(cpu);
    if t.name == "pcpu_alloc_test" {
        // The 35000 objects needed chunks beyond the first, from the top of the vmalloc
        // range; once all are freed, pcpu_balance_free keeps one empty chunk.
        assert_eq!(bootmm::mm::percpu::pcpu_nr_vm_chunks(&k), 1);
        let info = vmallocinfo(&k);
        assert_eq!(info.lines().count(), 1, "{info}");
        assert!(info.contains(" pcpu_get_vm_areas vmalloc\n"), "{info}");
        let a: u64 = u64::from_str_radix(&info[2..18], 16).unwrap();
        assert!(
            a > bootmm::arch::x86::pgtable_64_types::VMALLOC_START + (16 << 40),
            "{info}"
        );
        return;
    }
    assert_eq!(free_blocks(&k).unwrap(), start, "{}", t.name);
    assert_eq!(vmallocinfo(&k), "", "{}", t.name);
}

macro_rules! cases {
    ($($name:ident: $id:expr, $loops:expr;)*) => {$(
        #[test]
        fn $name() {
            run($id, $loops, 1);
            run($id, $loops, 2);
        }
    )*};
}

cases! {
    fix_size_alloc_test: 0, 3000;
    full_fit_alloc_test: 1, 500;
    long_busy_list_alloc_test: 2, 200;
    random_size_alloc_test: 3, 1000;
    fix_align_alloc_test: 4, 1000;
    random_size_align_alloc_test: 5, 1000;
    align_shift_alloc_test: 6, 1;
    pcpu_alloc_test: 7, 1;
    kvfree_rcu_1_arg_vmalloc_test: 8, 500;
    kvfree_rcu_2_arg_vmalloc_test: 9, 500;
    vm_map_ram_test: 10, 5000;
    vrealloc_test: 12, 500;
}

/// More workers than CPUs, and a mask of no test, are refused before anything runs.
#[test]
fn bad_parameters_are_refused() {
    let mut k = boot((6, 6), 512 << 20, 2);
    let p = Params {
        nr_threads: 3,
        ..Params::default()
    };
    let e = test_vmalloc::run(&mut k, &p, CLOCK).unwrap_err();
    assert!(e.to_string().contains("nr_threads=3"), "{e}");
    let p = Params {
        run_test_mask: 1 << 20,
        ..Params::default()
    };
    let e = test_vmalloc::run(&mut k, &p, CLOCK).unwrap_err();
    assert!(e.to_string().contains("selects none"), "{e}");
}
