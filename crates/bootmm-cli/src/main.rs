//! `bootmm`: boot a simulated machine through Linux's boot-time memory management, drive it
//! with kernel calls, and compare it with real boot logs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bootmm_cli::{boot, cat, check, diff, exit, logread, script, slabinfo, test_vmalloc};

/// Linux boot-time memory management as a faithful, executable model.
#[derive(Parser)]
#[command(name = "bootmm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Host memory the simulated machines may use (e.g. 8G); work that would need more is
    /// refused, saying what it needs. Default: $BOOTMM_HOST_MEM, else half of this host's RAM
    #[arg(long, global = true, value_name = "SIZE")]
    host_mem: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Boot a simulated machine and print the kernel's log.
    Boot(boot::BootArgs),
    /// Drive the model with kernel calls, one per line (FILE, or - / nothing for stdin).
    Script(script::ScriptArgs),
    /// Boot the machine and print /proc files (/proc/zoneinfo, /proc/meminfo, …).
    Cat(cat::CatArgs),
    /// Boot the machine and print the slabinfo tool's summary of the slab caches.
    Slabinfo(slabinfo::SlabinfoArgs),
    /// Boot the machine and run the kernel's test_vmalloc module on it.
    TestVmalloc(test_vmalloc::TestVmallocArgs),
    /// Compare the model with a real boot log, line by line.
    Check(check::CheckArgs),
    /// Compare two machines, eras or command lines: the log lines, zone numbers, buddyinfo
    /// and slabinfo that differ. A and B are each a boot log or quoted machine options.
    Diff(diff::DiffArgs),
    /// List the inputs a real boot log gives (and what it lacks).
    Inputs {
        /// The boot log.
        log: std::path::PathBuf,
    },
}

/// `bootmm inputs LOG`: exit 0 when the log describes a machine, 2 when it is unusable.
fn inputs(p: &std::path::Path) -> ExitCode {
    let t = match bootmm_cli::read_bounded(p) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::from(exit::INPUT);
        }
    };
    let inp = logread::LogInputs::parse(&String::from_utf8_lossy(&t));
    print!("{}", inp.describe());
    for m in inp.missing() {
        println!("missing: {m}");
    }
    for w in &inp.unreadable {
        eprintln!("bootmm: {}:{}: {}", p.display(), w.line, w.value);
    }
    match inp.to_machine_with_report() {
        Ok((_, notes)) => {
            notes.iter().for_each(|n| println!("default: {n}"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("unusable: {e}");
            eprintln!("bootmm: {}: unusable: {e}", p.display());
            ExitCode::from(exit::INPUT)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Ok(v) = std::env::var("BOOTMM_HOST_MEM") {
        if !matches!(bootmm::klib::cmdline::memparse_checked(v.trim()), Ok((b, "")) if b > 0) {
            eprintln!("bootmm: BOOTMM_HOST_MEM={v:?}: expected a size like 512M or 8G");
            return ExitCode::from(2);
        }
    }
    if let Some(v) = &cli.host_mem {
        match bootmm::klib::cmdline::memparse_checked(v.trim()) {
            Ok((b, "")) if b > 0 => bootmm::phys::set_host_budget(b),
            _ => {
                eprintln!("bootmm: --host-mem {v:?}: expected a size like 512M or 8G");
                return ExitCode::from(2);
            }
        }
    }
    match &cli.command {
        Command::Boot(a) => boot::run(a),
        Command::Script(a) => {
            let machine = a.machine.clone();
            script::run(a, move || boot::boot_machine(&machine))
        }
        Command::Cat(a) => cat::run(a),
        Command::Slabinfo(a) => slabinfo::run(a),
        Command::TestVmalloc(a) => test_vmalloc::run(a),
        Command::Check(a) => check::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Inputs { log } => inputs(log),
    }
}
