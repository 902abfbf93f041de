//! STUB (to be replaced): arch/x86/mm/numa.c, NUMA discovery and NODE_DATA.
//!
//! Until the NUMA model lands every page is on node 0, as `dummy_numa_init` leaves it.

use alloc::vec::Vec;

use crate::init::main::BootError;
use crate::kernel::Kernel;
use crate::mm::memblock::RegionType;

/// NUMA state after `initmem_init`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Numa {
    /// Online nodes with memory, ascending.
    pub online: Vec<u32>,
    /// `nr_node_ids`.
    pub nr_node_ids: u32,
}

/// arch/x86/mm/numa_64.c: `initmem_init`.
pub fn initmem_init(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("initmem_init", "arch/x86/mm/numa_64.c");
    k.memblock
        .memblock_set_node(0, u64::MAX, RegionType::Memory, 0)
        .map_err(|e| BootError::NoMemory(e.to_string()))?;
    k.numa = Numa {
        online: alloc::vec![0],
        nr_node_ids: 1,
    };
    Ok(())
}
use alloc::string::ToString;
