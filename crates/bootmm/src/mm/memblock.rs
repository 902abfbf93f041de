//! STUB: replaced by the memblock implementation.
use crate::era::Era;
use crate::phys::PhysMem;
use crate::printk::Printk;
use crate::trace::Trace;

pub struct Memblock {
    pub era: Era,
    pub printk: Printk,
    pub trace: Trace,
    pub phys: Option<PhysMem>,
}

impl Memblock {
    pub fn new(era: Era, printk: Printk, trace: Trace, phys: Option<PhysMem>) -> Self {
        Memblock {
            era,
            printk,
            trace,
            phys,
        }
    }
}
