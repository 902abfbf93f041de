//! Real boot logs: the "Built N zonelists" and "Policy zone" lines, and the Dentry, Inode,
//! Mount and Mountpoint hash lines, recomputed from the log's own per-zone numbers.
//!
//! Logs up to 5.10 print, per zone, its present pages ("LIFO batch" line; before 3.8 that
//! line already shows present − memmap − reserve), the memmap pages and the DMA reserve, so
//! Σ freesize (vm_total_pages, nr_kernel_pages) is derivable. 6.11+ logs: Σ present pages of
//! the "Early memory node ranges". Logs between (5.15–6.10) print neither, and are skipped.

use super::*;
use crate::era::{Arch, KernelVersion};
use crate::mm::large_hash::{hashdist, mnt_init_hashes, vfs_caches_hashes, HashEnv, VfsHashParams};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

fn corpus_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(
        d.is_dir(),
        "the shared corpus is missing: expected {} (dmesg/ files)",
        d.display()
    );
    d
}

/// The message text of a log line without console/syslog decorations.
fn strip(line: &str) -> &str {
    let mut s = line;
    if let Some(i) = s.find(" kernel: ") {
        if i < 60 {
            s = &s[i + " kernel: ".len()..];
        }
    }
    if s.starts_with('[') {
        if let Some(i) = s.find(']') {
            if s[1..i].trim().parse::<f64>().is_ok() {
                s = s[i + 1..].strip_prefix(' ').unwrap_or(&s[i + 1..]);
            }
        }
    }
    s
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

struct Log {
    name: String,
    era: Era,
    lines: Vec<String>,
}

fn logs() -> Vec<Log> {
    let d = corpus_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(d.join("dmesg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.push(d.join("host/dmesg-6.18-host.txt"));
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        let header = |k: &str| {
            text.lines()
                .find(|l| l.starts_with(k))
                .map(|l| l[k.len()..].trim().to_string())
        };
        let version = header("# kernel:")
            .and_then(|k| KernelVersion::parse(&k))
            .or_else(|| {
                let l = text.lines().find(|l| l.contains("Linux version "))?;
                let v = &l[l.find("Linux version ").unwrap() + 14..];
                KernelVersion::parse(v)
            });
        let Some(version) = version else { continue };
        let arch = match header("# arch:").as_deref() {
            Some(a) if a.starts_with("i386") => Arch::I386 { pae: true },
            _ => Arch::X86_64,
        };
        let mut era = Era::new(version, arch);
        if let Some(l) = text.lines().find(|l| l.contains("Linux version ")) {
            let v = &l[l.find("Linux version ").unwrap() + 14..];
            era.release = v.split(' ').next().unwrap_or("").to_string();
        }
        let lines = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| strip(l).to_string())
            .collect();
        out.push(Log {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            era,
            lines,
        });
    }
    out
}

/// Per-zone (type, present, memmap, reserve) from the KERN_DEBUG lines of free_area_init_core.
fn zone_lines(log: &Log) -> Vec<(ZoneType, u64, u64, u64)> {
    let mut out: Vec<(ZoneType, u64, u64, u64)> = Vec::new();
    let (mut memmap, mut reserve) = (0, 0);
    for l in &log.lines {
        let Some(rest) = l.strip_prefix("  ") else {
            continue;
        };
        let Some((zname, tail)) = rest.split_once(" zone: ") else {
            continue;
        };
        let Some(zt) = ZoneType::ALL.iter().copied().find(|z| z.name() == zname) else {
            continue;
        };
        let n: u64 = tail
            .split(' ')
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        if tail.ends_with("pages used for memmap") {
            memmap = n;
        } else if tail.ends_with("pages reserved") {
            reserve = n;
        } else if tail.contains("pages, LIFO batch") {
            out.push((zt, n, memmap, reserve));
            memmap = 0;
            reserve = 0;
        }
    }
    out
}

/// Σ present pages of the "Early memory node ranges" (6.11+ managed estimate).
fn node_range_pages(log: &Log) -> u64 {
    let mut sum = 0;
    for l in &log.lines {
        let Some(r) = l.trim_start().strip_prefix("node ") else {
            continue;
        };
        let Some((_, m)) = r.split_once("[mem ") else {
            continue;
        };
        let Some((a, b)) = m.trim_end_matches(']').split_once('-') else {
            continue;
        };
        if let (Some(a), Some(b)) = (hex(a), hex(b)) {
            sum += ((b + 1) >> 12) - a.div_ceil(4096);
        }
    }
    sum
}

fn find<'a>(log: &'a Log, prefix: &str) -> Option<&'a str> {
    log.lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .map(|s| s.as_str())
}

#[test]
fn corpus_zonelists_and_hash_lines() {
    let mut checked = 0;
    let mut failures: Vec<String> = Vec::new();
    let mut report = String::new();
    for log in logs() {
        let Some(built) = find(&log, "Built ") else {
            continue;
        };
        let numa = find(&log, "Policy zone: ").is_some();
        let nodes: u32 = built
            .trim_start_matches("Built ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let era = &log.era;
        let zl = zone_lines(&log);
        let zones: Vec<WmZone> = if !zl.is_empty() && !era.at_least(6, 11) {
            zl.iter()
                .map(|&(zt, present, memmap, reserve)| {
                    let pages = if era.at_least(3, 8) {
                        boot_zone_pages(era, zt, present, memmap, reserve)
                    } else {
                        present // the LIFO line already shows present − memmap − reserve
                    };
                    WmZone {
                        nid: 0,
                        zone_type: zt,
                        managed: pages,
                        present,
                    }
                })
                .collect()
        } else if era.at_least(6, 11) {
            let present = node_range_pages(&log);
            alloc::vec![WmZone {
                nid: 0,
                zone_type: if find(&log, "Policy zone: DMA32").is_some() {
                    ZoneType::Dma32
                } else {
                    ZoneType::Normal
                },
                managed: present,
                present,
            }]
        } else {
            report.push_str(&std::format!("{}: skipped (no per-zone lines)\n", log.name));
            continue;
        };
        let cfg = ZonelistConfig {
            numa,
            cma: true,
            memory_isolation: true,
        };
        let orders: Vec<(u32, Vec<u32>)> = (0..nodes).map(|n| (n, alloc::vec![n])).collect();
        let b = build_all_zonelists(era, &cfg, &zones, &orders);
        let model_built = b
            .lines
            .iter()
            .find(|l| l.starts_with("Built "))
            .cloned()
            .unwrap_or_default();
        checked += 1;
        let mut note = |what: &str, real: Option<&str>, model: &str| match real {
            Some(r) if r == model => report.push_str(&std::format!("{}: {what} exact\n", log.name)),
            Some(r) => {
                report.push_str(&std::format!(
                    "{}: {what} differs\n  real:  {r}\n  model: {model}\n",
                    log.name
                ));
                failures.push(std::format!("{} {what}", log.name));
            }
            None => {}
        };
        note("Built", Some(built), &model_built);
        if numa {
            let model = b
                .lines
                .iter()
                .find(|l| l.starts_with("Policy zone"))
                .cloned()
                .unwrap_or_default();
            note("Policy zone", find(&log, "Policy zone: "), &model);
        }
        // Hash tables (x86_64 and i386 with per-zone lines): nr_kernel_pages = Σ lowmem freesize.
        if zl.is_empty() {
            continue;
        }
        let freesize = |&(zt, present, memmap, reserve): &(ZoneType, u64, u64, u64)| {
            let _ = zt;
            if era.at_least(3, 8) {
                present.saturating_sub(memmap).saturating_sub(reserve)
            } else {
                present
            }
        };
        let nr_kernel: u64 = zl.iter().filter(|z| !z.0.is_highmem()).map(freesize).sum();
        let nr_all: u64 = zl.iter().map(freesize).sum();
        let env = HashEnv {
            nr_kernel_pages: nr_kernel,
            nr_all_pages: nr_all,
            hashdist: hashdist(era, numa, nodes, None),
            online_nodes: nodes,
        };
        let p = VfsHashParams::default();
        for h in vfs_caches_hashes(era, &env, &p) {
            let name = h.table.line.split(" hash").next().unwrap_or("").to_string();
            note(
                &name,
                find(&log, &std::format!("{name} hash table entries")),
                &h.table.line,
            );
        }
        let (tables, old) = mnt_init_hashes(era, &env, &p);
        if let Some(l) = old {
            note(
                "Mount-cache",
                find(&log, "Mount-cache hash table entries"),
                &l,
            );
        }
        for h in tables {
            let name = h.table.line.split(" hash").next().unwrap_or("").to_string();
            note(
                &name,
                find(&log, &std::format!("{name} hash table entries")),
                &h.table.line,
            );
        }
    }
    std::println!("{report}");
    assert!(checked >= 20, "only {checked} logs had a Built line");
    assert!(failures.is_empty(), "differs: {failures:?}");
}

/// The 32-node EPYC log prints every node's fallback order but not its SLIT. A three-level
/// table — 11 within a group of four nodes, 12 within a 16-node socket, 32 across sockets —
/// reproduces all 32 lines with the 5.16+ accumulated node_load (a two-level table does not:
/// the rotations inside each group come from the load).
#[test]
fn epyc_32_node_fallback_order() {
    let log = logs()
        .into_iter()
        .find(|l| l.name.starts_with("048-"))
        .expect("048 log");
    let nodes: Vec<ZlNode> = (0..32)
        .map(|nid| ZlNode {
            nid,
            has_cpus: true,
            has_memory: true,
        })
        .collect();
    let d = |a: u32, b: u32| {
        if a == b {
            10
        } else if a / 4 == b / 4 {
            11
        } else if a / 16 == b / 16 {
            12
        } else {
            32
        }
    };
    let orders = build_all_zonelists_order(&log.era, &nodes, &d);
    let mut bad = Vec::new();
    for (nid, order) in &orders {
        let model = fallback_order_line(*nid, order);
        let real = find(&log, &std::format!("Fallback order for Node {nid}: "));
        if real.map(|r| r.trim_end()) != Some(model.trim_end()) {
            bad.push(std::format!("real  {:?}\nmodel {model:?}", real));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
