//! STUB: setup_arch.
