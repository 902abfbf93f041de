//! `bootmm boot`: build the machine, run `start_kernel`, print what the kernel printed.

use std::path::PathBuf;
use std::process::ExitCode;

use bootmm::init::main::start_kernel;
use bootmm::Kernel;

use crate::machine_args::MachineArgs;

#[derive(clap::Args, Clone, Debug)]
pub struct BootArgs {
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Print the init call tree, each function with its kernel source file.
    #[arg(long)]
    pub trace: bool,
    /// Write the call tree as a Chrome trace (opens in Perfetto).
    #[arg(long, value_name = "FILE")]
    pub trace_json: Option<PathBuf>,
}

/// Build the machine the options describe and boot it.
pub fn boot_machine(args: &MachineArgs) -> Result<Kernel, String> {
    let machine = args.build()?;
    let mut k = Kernel::new(machine).map_err(|e| e.to_string())?;
    start_kernel(&mut k).map_err(|e| e.to_string())?;
    Ok(k)
}

pub fn run(args: &BootArgs) -> ExitCode {
    let machine = match args.machine.build() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut k = match Kernel::new(machine) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let booted = start_kernel(&mut k);
    // What the kernel printed before a failure is shown too, as a console would.
    for line in k.printk.lines() {
        println!("{}", line.text);
    }
    if let Err(e) = booted {
        eprintln!("bootmm: boot stopped: {e}");
        return ExitCode::FAILURE;
    }
    if args.trace {
        print!("{}", k.trace.render_tree());
    }
    if let Some(path) = &args.trace_json {
        if let Err(e) = std::fs::write(path, k.trace.render_chrome_json()) {
            eprintln!("bootmm: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
