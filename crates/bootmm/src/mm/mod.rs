//! `mm/`: the core memory-management code, one module per kernel file.
pub mod memblock;
pub mod mm_init;
pub mod page_alloc;
pub mod sparse;
pub mod vmstat;
