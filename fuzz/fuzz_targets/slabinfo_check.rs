// SPDX-License-Identifier: GPL-2.0-only
//! Fuzz target: see `bootmm_cli::fuzzing::slabinfo_check`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bootmm_cli::fuzzing::slabinfo_check(data));
