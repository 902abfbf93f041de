//! `init/`: the order of boot.
pub mod main;
