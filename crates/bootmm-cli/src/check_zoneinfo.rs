//! `bootmm check --zoneinfo FILE`: recompute the watermarks, protection arrays, pageset sizes
//! and vmstat thresholds of a real /proc/zoneinfo and report each number as exact, explained
//! (THP raise, boot-time managed counts, watermark boost) or differing.

use std::path::PathBuf;
use std::process::ExitCode;

use bootmm::mm::zoneinfo::{check_zoneinfo, Verdict, ZoneinfoCheckParams, ZoneinfoFile};
use bootmm::KernelVersion;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct ZoneinfoArgs {
    /// A /proc/zoneinfo to check instead of a boot log.
    #[arg(long, value_name = "FILE")]
    pub zoneinfo: Option<PathBuf>,
    /// The kernel the zoneinfo or slabinfo came from (e.g. 5.4 or 4.18.0-80.el8); inferred
    /// from the file when not given.
    #[arg(long, value_name = "VERSION")]
    pub kernel: Option<String>,
    /// vm.min_free_kbytes as the user set it (sysctl or boot parameter).
    #[arg(long, value_name = "N", requires = "zoneinfo")]
    pub min_free_kbytes: Option<u64>,
    /// khugepaged ran (transparent hugepages "always" or "madvise"); without it both are tried.
    #[arg(long, requires = "zoneinfo", conflicts_with = "no_thp")]
    pub thp: bool,
    /// khugepaged did not run (transparent hugepages "never").
    #[arg(long, requires = "zoneinfo")]
    pub no_thp: bool,
    /// vm.watermark_scale_factor if changed from 10.
    #[arg(long, value_name = "N", requires = "zoneinfo")]
    pub watermark_scale_factor: Option<u64>,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// Check the zoneinfo named by `args.zoneinfo`; exit status 0 when every watermark and
/// protection number is exact or explained, 1 otherwise.
pub fn run(args: &ZoneinfoArgs, json: bool, verbose: bool) -> ExitCode {
    let text = match crate::read_input_file(args.zoneinfo.as_deref(), "--zoneinfo") {
        Ok(t) => t,
        Err(code) => return code,
    };
    let Some(path) = &args.zoneinfo else {
        return ExitCode::from(crate::exit::INPUT);
    };
    let kernel = match args.kernel.as_deref().map(KernelVersion::parse) {
        Some(None) => {
            eprintln!(
                "bootmm: --kernel {:?}: expected a release like 5.4 or 4.18.0-80.el8",
                args.kernel.as_deref().unwrap_or("")
            );
            return ExitCode::from(crate::exit::INPUT);
        }
        Some(Some(k)) => match k.check_release() {
            Err(e) => {
                eprintln!(
                    "bootmm: --kernel {:?}: {e}",
                    args.kernel.as_deref().unwrap_or("")
                );
                return ExitCode::from(crate::exit::INPUT);
            }
            Ok(note) => {
                if let Some(n) = note {
                    eprintln!("bootmm: {n}");
                }
                Some(k)
            }
        },
        None => None,
    };
    let file = match ZoneinfoFile::parse(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bootmm: {}: {e}", path.display());
            return ExitCode::from(crate::exit::INPUT);
        }
    };
    let params = ZoneinfoCheckParams {
        kernel,
        min_free_kbytes: args.min_free_kbytes,
        thp: if args.thp {
            Some(true)
        } else if args.no_thp {
            Some(false)
        } else {
            None
        },
        watermark_scale_factor: args.watermark_scale_factor,
    };
    let report = match check_zoneinfo(&file, &params) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bootmm: {}: {e}", path.display());
            return ExitCode::from(crate::exit::INPUT);
        }
    };
    if report.numbers.is_empty() {
        eprintln!(
            "bootmm: {}: nothing to check: no zone shows its min, low and high watermarks",
            path.display()
        );
        return ExitCode::from(crate::exit::INPUT);
    }
    if json {
        let nums: Vec<String> = report
            .numbers
            .iter()
            .chain(&report.extras)
            .map(|c| {
                let (v, why, model) = match &c.verdict {
                    Verdict::Exact => ("exact", String::new(), c.real),
                    Verdict::Explained(w) => ("explained", w.clone(), c.real),
                    Verdict::Differs { model } => ("differs", String::new(), *model),
                };
                format!(
                    "{{\"node\":{},\"zone\":{},\"what\":{},\"real\":{},\"model\":{},\"verdict\":{},\"why\":{}}}",
                    c.nid,
                    json_str(&c.zone),
                    json_str(&c.what),
                    c.real,
                    model,
                    json_str(v),
                    json_str(&why)
                )
            })
            .collect();
        let notes: Vec<String> = report.notes.iter().map(|n| json_str(n)).collect();
        println!(
            "{{\"zoneinfo\":{},\"kernel\":{},\"cpus\":{},\"nodes\":{},\"min_free_kbytes\":{},\"min_free_kbytes_source\":{},\"notes\":[{}],\"numbers\":[{}],\"summary\":{}}}",
            json_str(&path.display().to_string()),
            json_str(&format!("{}.{}", report.era.major, report.era.minor)),
            report.cpus,
            report.nodes,
            report
                .min_free_kbytes
                .map_or_else(|| "null".to_string(), |m| m.to_string()),
            json_str(&report.min_free_kbytes_source),
            notes.join(","),
            nums.join(","),
            json_str(&report.summary())
        );
    } else {
        println!("zoneinfo: {}", path.display());
        print!("{}", report.render(verbose));
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::FAILED)
    }
}
