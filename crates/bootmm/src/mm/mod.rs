//! `mm/`: the core memory-management code, one module per kernel file.
pub mod bootmem;
pub mod large_hash;
pub mod memblock;
pub mod mm_init;
pub mod nobootmem;
pub mod page_alloc;
pub mod page_alloc_init;
pub mod percpu;
pub mod slab;
pub mod slab_common;
pub mod slub;
pub mod sparse;
pub mod vmalloc;
pub mod vmstat;
pub mod watermark;
pub mod zoneinfo;
pub mod zonelist;
