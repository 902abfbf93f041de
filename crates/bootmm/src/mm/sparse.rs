//! STUB (to be replaced): mm/sparse.c and mm/sparse-vmemmap.c, the struct page array.

use crate::init::main::BootError;
use crate::kernel::Kernel;

/// mm/sparse.c: `sparse_init`.
pub fn sparse_init(k: &mut Kernel) -> Result<(), BootError> {
    let _t = k.trace.enter("sparse_init", "mm/sparse.c");
    Ok(())
}
