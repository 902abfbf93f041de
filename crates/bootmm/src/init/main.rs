//! STUB: start_kernel.
