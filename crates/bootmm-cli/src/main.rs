// SPDX-License-Identifier: GPL-2.0-only
//! The `bootmm` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod script;

#[derive(Parser)]
#[command(
    name = "bootmm",
    about = "Linux boot-time memory management as an executable model"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a script of kernel calls (memblock_add(0x100000, 32K); ...).
    Script(script::ScriptArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Script(a) => script::run(&a, || {
            Err("booting a machine is not available in this build; use --bare".into())
        }),
    }
}
