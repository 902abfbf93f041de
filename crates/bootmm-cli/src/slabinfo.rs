//! `bootmm slabinfo`: boot the machine and print what the kernel tree's `slabinfo` tool
//! (tools/mm/slabinfo.c) shows with no options, as text or as JSON.

use std::process::ExitCode;

use bootmm::tools::slabinfo::{read_slab_dir, report};
use serde_json::json;

use crate::machine_args::MachineArgs;

#[derive(clap::Args, Clone, Debug)]
pub struct SlabinfoArgs {
    /// Show the caches without slabs too (the tool's -z)
    #[arg(short = 'z', long)]
    pub zero: bool,
    /// Print the caches as a JSON array instead of the tool's table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub machine: MachineArgs,
}

pub fn run(args: &SlabinfoArgs) -> ExitCode {
    let mut k = match crate::boot::boot_machine(&args.machine) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
    };
    if k.slab.state() < bootmm::mm::slub::SlabState::Up {
        eprintln!(
            "bootmm: slabinfo: this kernel's boot does not reach kmem_cache_init ({})",
            k.era.release
        );
        return ExitCode::FAILURE;
    }
    let caches = read_slab_dir(&mut k);
    if args.json {
        let v: Vec<_> = caches
            .iter()
            .filter(|c| args.zero || c.slabs != 0)
            .map(|c| {
                json!({
                    "name": c.name,
                    "objects": c.objects,
                    "object_size": c.object_size,
                    "space": c.slab_size(),
                    "slabs": c.slabs,
                    "partial": c.partial,
                    "cpu_slabs": c.cpu_slabs,
                    "objs_per_slab": c.objs_per_slab,
                    "order": c.order,
                    "aliases": c.aliases,
                    "flags": c.flag_letters(),
                })
            })
            .collect();
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bootmm: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report(&caches, args.zero));
    }
    ExitCode::SUCCESS
}
