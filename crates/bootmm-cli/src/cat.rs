//! `bootmm cat`: boot the machine and print /proc files as the booted kernel shows them, as
//! text or as JSON.

use std::process::ExitCode;

use bootmm::fs::proc::{meminfo_lines, MeminfoFormat, ProcFile};
use bootmm::mm::vmstat::{buddyinfo_zones, pagetypeinfo_data, zoneinfo_zones};
use bootmm::Kernel;
use serde_json::{json, Map, Value as Json};

use crate::machine_args::MachineArgs;

#[derive(clap::Args, Clone, Debug)]
pub struct CatArgs {
    /// The files to show: /proc/buddyinfo, /proc/pagetypeinfo, /proc/zoneinfo, /proc/meminfo
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Print the files as one JSON object keyed by path instead of their text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub machine: MachineArgs,
}

/// Parse a list of /proc paths (or bare names), with a clear error for an unknown one.
pub fn parse_files<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<ProcFile>, String> {
    names
        .into_iter()
        .map(|n| {
            ProcFile::from_path(n.trim()).ok_or_else(|| {
                format!(
                    "no such file: {:?} (known: {})",
                    n.trim(),
                    ProcFile::known()
                )
            })
        })
        .collect()
}

/// A counter name for JSON: the kernel's blanked 4.17–4.19 counter gets its enum's name.
fn stat_key(name: &str) -> &str {
    if name.is_empty() {
        "nr_indirectly_reclaimable"
    } else {
        name
    }
}

fn stats_json(stats: &[(&'static str, u64)]) -> Json {
    let mut m = Map::new();
    for (n, v) in stats {
        m.insert(stat_key(n).to_string(), json!(v));
    }
    Json::Object(m)
}

/// ptdump's level names.
const LEVELS: [&str; 5] = ["pgd", "p4d", "pud", "pmd", "pte"];

/// The structured form of one /proc file.
pub fn proc_json(k: &Kernel, f: ProcFile) -> Json {
    match f {
        ProcFile::Buddyinfo => Json::Array(
            buddyinfo_zones(k)
                .into_iter()
                .map(|z| json!({"node": z.nid, "zone": z.zone, "nr_free": z.nr_free}))
                .collect(),
        ),
        ProcFile::Pagetypeinfo => {
            let d = pagetypeinfo_data(k);
            let free: Vec<Json> = d
                .free
                .iter()
                .map(|f| {
                    json!({"node": f.nid, "zone": f.zone, "type": f.migratetype,
                           "counts": f.counts, "overflow": f.overflow})
                })
                .collect();
            let blocks: Vec<Json> = d
                .blocks
                .iter()
                .map(|b| {
                    let mut m = Map::new();
                    for (t, c) in &b.counts {
                        m.insert(t.to_string(), json!(c));
                    }
                    json!({"node": b.nid, "zone": b.zone, "blocks": m})
                })
                .collect();
            json!({"pageblock_order": d.pageblock_order, "pages_per_block": d.pages_per_block,
                   "free": free, "blocks": blocks})
        }
        ProcFile::Zoneinfo => Json::Array(
            zoneinfo_zones(k)
                .into_iter()
                .map(|z| {
                    let mut o = Map::new();
                    o.insert("node".into(), json!(z.nid));
                    o.insert("zone".into(), json!(z.zone));
                    o.insert("populated".into(), json!(z.populated));
                    if let Some(ns) = &z.node_stats {
                        o.insert("per_node_stats".into(), stats_json(ns));
                    }
                    for (key, v) in [
                        ("pages_free", z.free),
                        ("boost", z.boost),
                        ("min", z.min),
                        ("low", z.low),
                        ("high", z.high),
                        ("promo", z.promo),
                        ("spanned", z.spanned),
                        ("present", z.present),
                        ("managed", z.managed),
                        ("cma", z.cma),
                    ] {
                        o.insert(key.into(), json!(v));
                    }
                    o.insert("protection".into(), json!(z.protection));
                    if z.populated {
                        o.insert("stats".into(), stats_json(&z.zone_stats));
                        let ps: Vec<Json> = z
                            .pagesets
                            .iter()
                            .map(|p| {
                                json!({"cpu": p.cpu, "count": p.count, "high": p.high,
                                       "batch": p.batch, "high_min": p.high_min,
                                       "high_max": p.high_max,
                                       "vm_stats_threshold": p.stat_threshold})
                            })
                            .collect();
                        o.insert("pagesets".into(), Json::Array(ps));
                        o.insert("node_unreclaimable".into(), json!(z.unreclaimable));
                        o.insert("start_pfn".into(), json!(z.start_pfn));
                    }
                    Json::Object(o)
                })
                .collect(),
        ),
        ProcFile::Meminfo => {
            let mut m = Map::new();
            for l in meminfo_lines(k) {
                let unit = match l.format {
                    MeminfoFormat::Kb | MeminfoFormat::Kb5 => "kB",
                    MeminfoFormat::Count5 => "pages",
                };
                m.insert(
                    l.name().to_string(),
                    json!({"value": l.value, "unit": unit}),
                );
            }
            Json::Object(m)
        }
        ProcFile::Slabinfo => Json::Array(
            bootmm::mm::slab_common::get_slabinfo(k)
                .into_iter()
                .map(|i| {
                    json!({
                        "name": i.name,
                        "active_objs": i.active_objs,
                        "num_objs": i.num_objs,
                        "objsize": i.objsize,
                        "objperslab": i.objperslab,
                        "pagesperslab": i.pagesperslab,
                        "active_slabs": i.active_slabs,
                        "num_slabs": i.num_slabs,
                    })
                })
                .collect(),
        ),
        ProcFile::Vmallocinfo => {
            let (busy, purge) = bootmm::mm::vmalloc::vmap_areas(k);
            let mut v: Vec<Json> = busy
                .into_iter()
                .map(|a| {
                    json!({
                        "start": format!("0x{:016x}", a.start),
                        "end": format!("0x{:016x}", a.end),
                        "size": a.size,
                        "caller": a.caller,
                        "pages": a.nr_pages,
                        "flags": a.flags,
                        "vm_map_ram": a.vm_map_ram,
                        "nodes": a.nodes.iter().map(|(n, c)| json!({"node": n, "pages": c})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            v.extend(purge.into_iter().map(|(a, b)| {
                json!({"start": format!("0x{a:016x}"), "end": format!("0x{b:016x}"), "size": b - a, "unpurged": true})
            }));
            Json::Array(v)
        }
        ProcFile::PageTablesKernel => Json::Array(
            bootmm::arch::x86::dump_pagetables::ptdump_kernel(k)
                .1
                .into_iter()
                .map(|l| {
                    json!({
                        "start": format!("0x{:016x}", l.start),
                        "end": format!("0x{:016x}", l.end),
                        "prot": format!("{:#x}", l.prot),
                        "level": LEVELS[l.level],
                    })
                })
                .collect(),
        ),
    }
}

/// The files as one JSON object keyed by path.
pub fn files_json(k: &Kernel, files: &[ProcFile]) -> Json {
    let mut m = Map::new();
    for f in files {
        m.insert(f.path().to_string(), proc_json(k, *f));
    }
    Json::Object(m)
}

/// The files' text, each after a `==> /proc/NAME <==` header when there are several (or when
/// `always_header`).
pub fn files_text(k: &Kernel, files: &[ProcFile], always_header: bool) -> String {
    let mut s = String::new();
    for (i, f) in files.iter().enumerate() {
        if always_header || files.len() > 1 {
            if i > 0 || always_header {
                s.push('\n');
            }
            s.push_str(&format!("==> {} <==\n", f.path()));
        }
        s.push_str(&f.show(k));
    }
    s
}

/// The /proc files describe the zones; an era whose boot stops before sizing them (i386 and
/// 2.6 for now) has none to show.
pub fn zones_ready(k: &Kernel) -> Result<(), String> {
    if k.page_alloc().nodes().is_empty() {
        return Err(format!(
            "no zones to show: the {} {} boot stops before the zones are sized (not modeled yet, see docs/divergences.md)",
            if k.era.is_64bit() { "x86_64" } else { "i386" },
            k.era.version
        ));
    }
    Ok(())
}

pub fn run(args: &CatArgs) -> ExitCode {
    let files = match parse_files(args.files.iter().map(String::as_str)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let k = match crate::boot::boot_machine(&args.machine) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bootmm: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = zones_ready(&k) {
        eprintln!("bootmm: {e}");
        return ExitCode::FAILURE;
    }
    if args.json {
        match serde_json::to_string_pretty(&files_json(&k, &files)) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bootmm: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", files_text(&k, &files, false));
    }
    ExitCode::SUCCESS
}
