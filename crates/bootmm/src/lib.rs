//! bootmm: Linux's boot-time memory management as a faithful, executable model.
//!
//! The tree mirrors the kernel's: `arch/x86` for the e820 map and `setup_arch`, `mm` for
//! memblock and the allocators that follow it, `init` for `start_kernel`. Each model function
//! is named after the kernel function it stands for, and its doc comment names the kernel file.
//! The core is `no_std` (with `alloc`); the `std` feature adds the host backend (simulated RAM
//! as a lazily reserved host mapping).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod printk;
pub mod trace;

pub mod arch;
pub mod era;
pub mod fs;
pub mod include;
pub mod init;
pub mod kernel;
pub mod klib;
pub mod machine;
pub mod mm;
pub mod phys;
pub mod script;
pub mod tools;

pub use era::{Arch, Era, KernelVersion};
pub use include::{Pfn, PhysAddr, VirtAddr};
pub use kernel::Kernel;
pub use machine::Machine;
pub use printk::{Level, LogLine, Printk};
pub use trace::Trace;
