//! STUB: replaced by the e820 implementation.
use alloc::vec::Vec;

use crate::era::Era;
use crate::printk::Printk;

/// e820 entry types (arch/x86/include/asm/e820/types.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum E820Type {
    Ram,
    Reserved,
    Acpi,
    Nvs,
    Unusable,
    Pmem,
    Pram,
    SoftReserved,
    ReservedKern,
    Other(u32),
}

/// One e820 entry (`struct e820_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub typ: E820Type,
}

/// The kernel's e820 tables.
pub struct E820 {
    pub table: Vec<E820Entry>,
    pub era: Era,
    pub printk: Printk,
}

impl E820 {
    pub fn new(era: Era, printk: Printk) -> Self {
        E820 {
            table: Vec::new(),
            era,
            printk,
        }
    }
}
