//! Architecture code (`arch/`). Only x86 is modelled.
pub mod x86;
