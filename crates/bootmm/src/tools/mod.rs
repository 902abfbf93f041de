// SPDX-License-Identifier: GPL-2.0-only
//! `tools/`: the kernel tree's userspace tools, run against the model's state.

pub mod slabinfo;
