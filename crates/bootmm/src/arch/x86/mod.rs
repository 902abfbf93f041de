//! `arch/x86`: the firmware memory map and the early boot steps that feed memblock.
pub mod dump_pagetables;
pub mod e820;
pub mod early_res;
pub mod init;
pub mod init_32;
pub mod init_64;
pub mod numa;
pub mod pci_dma;
pub mod pgtable_32;
pub mod pgtable_32_types;
pub mod pgtable_64_types;
pub mod set_memory;
pub mod setup;
pub mod setup_percpu;
