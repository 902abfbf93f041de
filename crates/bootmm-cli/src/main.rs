//! The `bootmm` command.

mod logread;
mod machine_args;

use clap::{Parser, Subcommand};

use bootmm::arch::x86::e820::{
    kvm_init_platform_reads_low_ram_pfn, E820Type, E820, X86_RESERVE_LOW_DEFAULT,
};
use bootmm::klib::cmdline::early_param_values;
use bootmm::machine::{E820OpKind, E820OpStage, Hypervisor, Machine};
use bootmm::Printk;

#[derive(Parser)]
#[command(
    name = "bootmm",
    about = "Linux boot-time memory management, as an executable model"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a machine as far as the sanitized e820 map and print the kernel log
    Boot {
        #[command(flatten)]
        machine: machine_args::MachineArgs,
    },
    /// List the inputs a real boot log gives (and what it lacks)
    Inputs {
        /// The boot log
        log: std::path::PathBuf,
    },
}

fn inputs(p: &std::path::Path) -> Result<(), String> {
    let t = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let inp = logread::LogInputs::parse(&String::from_utf8_lossy(&t));
    print!("{}", inp.describe());
    for m in inp.missing() {
        println!("missing: {m}");
    }
    match inp.to_machine_with_report() {
        Ok((_, notes)) => notes.iter().for_each(|n| println!("default: {n}")),
        Err(e) => println!("unusable: {e}"),
    }
    Ok(())
}

/// Apply the log's firmware-dictated e820 changes of one stage; returns the bytes changed.
fn apply_ops(e: &mut E820, m: &Machine, stage: E820OpStage) -> u64 {
    let mut changed = 0;
    for op in m.e820_ops.iter().filter(|o| o.stage == stage) {
        let size = op.end - op.start;
        changed += match op.kind {
            E820OpKind::Update { old, new } => {
                e.e820__range_update(op.start, size, old, new).unwrap_or(0)
            }
            E820OpKind::Remove { old } => e.e820__range_remove(
                op.start,
                size,
                old.unwrap_or(E820Type::Other(0)),
                old.is_some(),
            ),
        };
    }
    if changed != 0 {
        let _ = e.update_table();
    }
    changed
}

fn boot(args: &machine_args::MachineArgs) -> Result<(), String> {
    let (m, notes) = args.build_with_notes()?;
    for n in &notes {
        eprintln!("bootmm: {n}");
    }
    let log = Printk::new();
    let mut e = E820::new(m.era.clone(), log.clone());
    e.e820__memory_setup(&m.e820, m.legacy_mem)
        .map_err(|x| x.to_string())?;
    for v in early_param_values(&m.cmdline, "mem") {
        let _ = e.parse_memopt(v);
    }
    for v in early_param_values(&m.cmdline, "memmap") {
        let _ = e.parse_memmap_opt(v);
    }
    e.e820__reserve_setup_data(&m.setup_data)
        .map_err(|x| x.to_string())?;
    e.e820__finish_early_params().map_err(|x| x.to_string())?;
    apply_ops(&mut e, &m, E820OpStage::BeforeTrimBios);
    if m.hypervisor == Some(Hypervisor::Kvm) && kvm_init_platform_reads_low_ram_pfn(&m.era) {
        e.e820__end_of_low_ram_pfn();
    }
    let (text, end) = (m.image.phys_start, m.image.reserve_end());
    e.e820_add_kernel_range(text, end);
    e.trim_bios_range(X86_RESERVE_LOW_DEFAULT);
    let mut max_pfn = e.e820__end_of_ram_pfn();
    if apply_ops(&mut e, &m, E820OpStage::AfterMaxPfn) != 0 {
        max_pfn = e.e820__end_of_ram_pfn();
    }
    if m.era.is_64bit() && max_pfn > 1 << (32 - 12) {
        e.e820__end_of_low_ram_pfn();
    }
    apply_ops(&mut e, &m, E820OpStage::Late);
    for l in log.lines() {
        println!("{}", l.text);
    }
    let ram: u64 = e
        .table
        .iter()
        .filter(|x| x.typ == E820Type::Ram)
        .map(|x| x.size)
        .sum();
    eprintln!(
        "bootmm: {} ({}): {} e820 entries, {} KiB usable",
        m.name,
        m.era.release,
        e.table.len(),
        ram >> 10
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Boot { machine } => boot(machine),
        Cmd::Inputs { log } => inputs(log),
    };
    if let Err(e) = r {
        eprintln!("bootmm: {e}");
        std::process::exit(1);
    }
}
