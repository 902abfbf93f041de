//! The types every file shares, as the kernel's `include/linux` headers provide them.

pub mod addr;
pub mod gfp;
pub mod mm_types;
pub mod spinlock;

pub use addr::{Pfn, PhysAddr, VirtAddr, PAGE_SHIFT, PAGE_SIZE};

/// `NUMA_NO_NODE`.
pub const NUMA_NO_NODE: i32 = -1;
/// `SMP_CACHE_BYTES` on x86 (`L1_CACHE_BYTES` with `CONFIG_X86_L1_CACHE_SHIFT=6`).
pub const SMP_CACHE_BYTES: u64 = 64;
