//! `init/main.c`: `start_kernel`, the order of boot and nothing else.
//!
//! The kernel's `start_kernel` runs a long, fixed list of initialisers. bootmm runs the
//! memory-management ones, in the kernel's order for the modelled era, each as a function
//! named after its kernel counterpart and recorded in the call tree. Steps that later parts
//! of the model add (zones, the buddy allocator, percpu, SLUB, vmalloc) slot in here.

use core::fmt;

use alloc::string::String;

use crate::arch::x86::setup::setup_arch;
use crate::kernel::Kernel;
use crate::phys::PhysError;
use crate::pr_notice;

/// Why a boot could not go on (the kernel would panic or hang here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The firmware map is unusable (sanitising failed and there is no fallback).
    E820(String),
    /// A kernel parameter the kernel would reject outright.
    Param(String),
    /// memblock could not satisfy an allocation the kernel makes unconditionally.
    NoMemory(String),
    /// Simulated RAM could not be used.
    Phys(PhysError),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::E820(m) => write!(f, "e820: {m}"),
            BootError::Param(m) => write!(f, "kernel parameter: {m}"),
            BootError::NoMemory(m) => write!(f, "out of memory during boot: {m}"),
            BootError::Phys(e) => write!(f, "{e}"),
        }
    }
}

impl From<PhysError> for BootError {
    fn from(e: PhysError) -> Self {
        BootError::Phys(e)
    }
}

/// init/main.c: `start_kernel`.
pub fn start_kernel(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("start_kernel", "init/main.c");
    // linux_banner: the build host and compiler are not modelled.
    pr_notice!(k.printk, "Linux version {}\n", k.era.release);
    setup_arch(k)?;
    Ok(())
}
