// SPDX-License-Identifier: GPL-2.0-only
//! `lib/vsprintf.c`: what `%p` prints this early in boot.
//!
//! From 4.15 `%p` hashes pointers with a key that is not ready until the random pool is;
//! until then it prints a placeholder in the pointer's width: first `(ptrval)` right-aligned
//! (`        (ptrval)` on 64-bit), then `(____ptrval____)` on 64-bit (4.18, between the 4.15
//! and 4.19 logs seen; not pinned to a commit). Before 4.15 it prints the address.

use alloc::format;
use alloc::string::String;

use crate::era::Era;

/// `%p` of `addr` during early boot in `era`.
pub fn early_ptr(era: &Era, addr: u64) -> String {
    let width = if era.is_64bit() { 16 } else { 8 };
    if !era.at_least(4, 15) {
        format!("{addr:0width$x}")
    } else if era.at_least(4, 18) && era.is_64bit() {
        String::from("(____ptrval____)")
    } else {
        format!("{:>width$}", "(ptrval)")
    }
}
