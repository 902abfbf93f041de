// SPDX-License-Identifier: GPL-2.0-only
//! Fuzz target: see `bootmm_cli::fuzzing::diff_sides`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bootmm_cli::fuzzing::diff_sides(data));
