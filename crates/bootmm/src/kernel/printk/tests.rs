// SPDX-License-Identifier: GPL-2.0-only
//! Tests of the log buffer: the power-of-two rounding of `log_buf_len=`, the CPU share,
//! and what `setup_log_buf` takes from memblock in each era.

#![cfg(feature = "std")]

use alloc::string::String;
use alloc::vec::Vec;

use super::*;
use crate::era::{Arch, Era, KernelVersion};
use crate::init::main::start_kernel;
use crate::machine::Machine;

fn machine(v: (u32, u32, u32), mem: u64, cpus: u32, cmdline: &str) -> Machine {
    let mut m = Machine::qemu(mem, cpus).unwrap();
    m.era = Era::new(KernelVersion::new(v.0, v.1, v.2), Arch::X86_64);
    m.cmdline.push(' ');
    m.cmdline.push_str(cmdline);
    m
}

fn boot(m: Machine) -> Kernel {
    let mut k = Kernel::new(m).expect("simulated RAM");
    match start_kernel(&mut k) {
        // 2.6 i386 stops at setup_per_cpu_areas (no bitmap yet): these tests look at what
        // comes before.
        Ok(()) | Err(crate::init::main::BootError::Unmodelled(_)) => {}
        Err(e) => panic!("boot: {e}"),
    }
    k
}

/// The records that start with `needle`, after printk.c's own "printk: " prefix.
fn lines(k: &Kernel, needle: &str) -> Vec<String> {
    k.printk
        .lines()
        .into_iter()
        .map(|l| l.text)
        .filter(|t| t.strip_prefix("printk: ").unwrap_or(t).starts_with(needle))
        .collect()
}

#[test]
fn log_buf_len_rounds_up_to_a_power_of_two_above_the_static_buffer() {
    let mut k = Kernel::new(machine((4, 4, 0), 256 << 20, 1, "")).unwrap();
    // The static buffer is 1 << 17 bytes by default.
    assert_eq!(__log_buf_len(&k), 128 << 10);
    assert!(log_buf_len_setup(&mut k, Some("10M")));
    assert_eq!(k.log_buf.new_log_buf_len, 16 << 20);
    k.log_buf.new_log_buf_len = 0;
    log_buf_len_update(&mut k, 3 << 20);
    assert_eq!(k.log_buf.new_log_buf_len, 4 << 20);
    k.log_buf.new_log_buf_len = 0;
    // Not bigger than the static buffer once rounded: nothing to do.
    log_buf_len_update(&mut k, 100 << 10);
    assert_eq!(k.log_buf.new_log_buf_len, 0);
    log_buf_len_update(&mut k, 0);
    assert_eq!(k.log_buf.new_log_buf_len, 0);
    assert_eq!(roundup_pow_of_two(1), 1);
    assert_eq!(roundup_pow_of_two((1 << 20) + 1), 2 << 20);
}

#[test]
fn early_buffer_is_taken_before_node_data_and_kept() {
    let k = boot(machine((4, 2, 0), 2 << 30, 1, "log_buf_len=10M"));
    assert_eq!(lines(&k, "log_buf_len: "), ["log_buf_len: 16777216 bytes"]);
    assert_eq!(lines(&k, "early log buf free: ").len(), 1);
    assert_eq!(k.log_buf.log_buf_len, Some(16 << 20));
    assert_eq!(k.log_buf.blocks.len(), 1);
    let (base, size) = k.log_buf.blocks[0];
    assert_eq!(size, 16 << 20);
    assert!(k.memblock.memblock_is_region_reserved(base, size));
    // Top-down: NODE_DATA lands below the buffer.
    let nd = &k.numa.node_data[0];
    assert!(
        nd.pa + nd.size <= base,
        "NODE_DATA {:#x} above the log buffer {base:#x}",
        nd.pa
    );
    // setup_log_buf(0) found the buffer in place and did nothing.
    assert_eq!(lines(&k, "log_buf_len").len(), 1);
}

#[test]
fn lockless_ring_buffer_takes_descriptor_and_info_arrays() {
    let k = boot(machine((6, 1, 0), 2 << 30, 1, "log_buf_len=1M"));
    assert_eq!(
        lines(&k, "log_buf_len: "),
        ["printk: log_buf_len: 1048576 bytes"]
    );
    let count = (1u64 << 20) >> PRB_AVGBITS;
    let sizes: Vec<u64> = k.log_buf.blocks.iter().map(|b| b.1).collect();
    assert_eq!(sizes, [1 << 20, count * 24, count * 88]);
    for &(base, size) in &k.log_buf.blocks {
        assert!(k.memblock.memblock_is_region_reserved(base, size));
    }
    // Each block lies below the one taken before it.
    assert!(k.log_buf.blocks[1].0 < k.log_buf.blocks[0].0);
    assert!(k.log_buf.blocks[2].0 < k.log_buf.blocks[1].0);
}

#[test]
fn many_cpus_grow_the_buffer_from_start_kernel() {
    let k = boot(machine((5, 4, 0), 2 << 30, 64, ""));
    // 63 extra CPUs * 4 KiB = 258048 > 64 KiB: 258048 + 128 KiB rounds up to 512 KiB.
    assert_eq!(
        lines(&k, "log_buf_len"),
        [
            "printk: log_buf_len individual max cpu contribution: 4096 bytes",
            "printk: log_buf_len total cpu_extra contributions: 258048 bytes",
            "printk: log_buf_len min size: 131072 bytes",
            "printk: log_buf_len: 524288 bytes",
        ]
    );
    // Few CPUs: the static buffer is enough.
    let k = boot(machine((5, 4, 0), 2 << 30, 16, ""));
    assert!(lines(&k, "log_buf_len").is_empty());
    assert!(k.log_buf.blocks.is_empty());
}

#[test]
fn no_early_buffer_before_3_0() {
    let k = boot(machine((2, 6, 32), 2 << 30, 1, "log_buf_len=10M"));
    assert!(lines(&k, "log_buf_len").is_empty());
    assert!(k.log_buf.blocks.is_empty());
}

/// Before 3.17 the line has no " bytes" (`pr_info("log_buf_len: %d\n", …)`).
#[test]
fn the_line_before_3_17() {
    for v in [(3, 10, 0), (3, 14, 0), (3, 16, 0)] {
        let k = boot(machine(v, 2 << 30, 1, "log_buf_len=1M"));
        assert_eq!(
            lines(&k, "log_buf_len: "),
            ["log_buf_len: 1048576"],
            "{v:?}"
        );
    }
    let k = boot(machine((3, 17, 0), 2 << 30, 1, "log_buf_len=1M"));
    assert_eq!(lines(&k, "log_buf_len: "), ["log_buf_len: 1048576 bytes"]);
}
