//! `bootmm boot`: build the machine, run `start_kernel`, print what the kernel printed.

use std::path::PathBuf;
use std::process::ExitCode;

use bootmm::init::main::{start_kernel, BootError};
use bootmm::{Kernel, Machine};

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
    /// After the log, print these /proc files (comma-separated: buddyinfo, pagetypeinfo,
    /// zoneinfo, meminfo), each after a `==> /proc/NAME <==` line
    #[arg(long, value_name = "FILES", value_delimiter = ',')]
    pub show: Vec<String>,
    /// Print one JSON object instead: the log's lines and the --show files as structures
    #[arg(long)]
    pub json: bool,
}

/// Build the machine the options describe and boot it.
pub fn boot_machine(args: &MachineArgs) -> Result<Kernel, String> {
    let (k, booted) = boot(args.build()?)?;
    booted.map_err(|e| e.to_string())?;
    Ok(k)
}

/// Map the machine's RAM and run `start_kernel`. The kernel comes back even when boot
/// stopped early, so that what it printed until then can be shown.
pub fn boot(machine: Machine) -> Result<(Kernel, Result<(), BootError>), String> {
    let mut k = Kernel::new(machine).map_err(|e| e.to_string())?;
    let booted = start_kernel(&mut k);
    Ok((k, booted))
}

pub fn run(args: &BootArgs) -> ExitCode {
    let files = match crate::cat::parse_files(args.show.iter().map(String::as_str)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bootmm: --show: {e}");
            return ExitCode::from(crate::exit::INPUT);
        }
    };
    // The trace file is opened before the boot, so that a bad path fails at once.
    let mut trace_file = match &args.trace_json {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some((path, f)),
            Err(e) => {
                eprintln!("bootmm: --trace-json {}: {e}", path.display());
                return ExitCode::from(crate::exit::INPUT);
            }
        },
        None => None,
    };
    let machine = match args.machine.build_with_notes() {
        Ok((m, notes)) => {
            for n in notes {
                eprintln!("bootmm: {n}");
            }
            m
        }
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::from(crate::exit::INPUT);
        }
    };
    let (k, booted) = match boot(machine) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The call tree as far as boot went, stopped or not.
    if let Some((path, f)) = &mut trace_file {
        if let Err(e) = std::io::Write::write_all(f, k.trace.render_chrome_json().as_bytes()) {
            eprintln!("bootmm: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let shown = if files.is_empty() {
        Ok(())
    } else {
        crate::cat::zones_ready(&k).map_err(|e| format!("--show: {e}"))
    };
    if args.json {
        let log: Vec<String> = k.printk.lines().iter().map(|l| l.text.clone()).collect();
        let mut o = serde_json::json!({ "log": log });
        match (&booted, &shown) {
            (Err(e), _) => o["error"] = serde_json::json!(e.to_string()),
            (Ok(()), Err(e)) => o["error"] = serde_json::json!(e),
            (Ok(()), Ok(())) => o["proc"] = crate::cat::files_json(&k, &files),
        }
        match serde_json::to_string_pretty(&o) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bootmm: {e}");
                return ExitCode::FAILURE;
            }
        }
        if let Err(e) = booted {
            eprintln!("bootmm: boot stopped: {e}");
            return ExitCode::FAILURE;
        }
        if let Err(e) = shown {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
    } else {
        // What the kernel printed before a failure is shown too, as a console would, and the
        // call tree as far as the boot went.
        for line in k.printk.lines() {
            println!("{}", line.text);
        }
        if let Err(e) = booted {
            if args.trace {
                print!("{}", k.trace.render_tree());
            }
            eprintln!("bootmm: boot stopped: {e}");
            return ExitCode::FAILURE;
        }
        if let Err(e) = shown {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
        print!("{}", crate::cat::files_text(&k, &files, true));
    }
    if args.trace {
        print!("{}", k.trace.render_tree());
    }
    ExitCode::SUCCESS
}
