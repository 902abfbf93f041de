// SPDX-License-Identifier: GPL-2.0-only
//! Boots of Debian's 6.1 and 6.12 kernels under QEMU (tests/data/qemu-debian, see its
//! MANIFEST.md): every predicted line of every log, and every number of every
//! /proc/zoneinfo, must come out the same from the model, on machines the shared corpus
//! does not have (NUMA emulation, 5-level paging, kernelcore=, THP off, 256 MiB to 16 GiB).

use std::path::PathBuf;

mod common;
use common::bootmm_rc;

fn data(ext: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/qemu-debian");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    v.sort();
    v
}

/// Run `bootmm ARGS FILE` for every file on two threads: (file, exit code, stdout).
fn run_all(args: &'static [&'static str], files: Vec<PathBuf>) -> Vec<(String, i32, String)> {
    let (a, b): (Vec<_>, Vec<_>) = files.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let work = move |part: Vec<(usize, PathBuf)>| {
        part.into_iter()
            .map(|(_, p)| {
                let mut all = args.to_vec();
                let s = p.to_string_lossy().into_owned();
                all.push(&s);
                let (rc, out, _) = bootmm_rc(&all, b"");
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    rc,
                    out,
                )
            })
            .collect::<Vec<_>>()
    };
    let h = std::thread::spawn(move || work(b));
    let mut out = work(a);
    out.extend(h.join().unwrap());
    out
}

#[test]
fn every_qemu_log_checks_with_no_differing_line() {
    let files = data(".dmesg.txt");
    assert!(files.len() >= 100, "only {} logs", files.len());
    let mut bad = Vec::new();
    let mut exact = 0;
    for (name, rc, out) in run_all(&["check", "--json"], files) {
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {out}"));
        for l in v["lines"].as_array().unwrap() {
            let st = l["status"].as_str().unwrap();
            if st == "differs" || st == "model only" {
                bad.push(format!("{name}: {l}"));
            }
        }
        exact += v["summary"]["exact"].as_u64().unwrap();
        // setup_per_cpu_areas: the counts, the Embedded line and the group map, all exact.
        let percpu = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["family"] == "percpu" && l["status"] == "exact")
            .count();
        assert!(percpu >= 4, "{name}: {percpu} exact percpu lines");
        assert_eq!(rc, 0, "{name}: a complete boot with no difference exits 0");
    }
    assert!(
        bad.is_empty(),
        "{} differing lines:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(exact > 3000, "only {exact} exact lines");
}

#[test]
fn every_qemu_zoneinfo_is_reproduced() {
    let files = data(".zoneinfo.txt");
    assert!(files.len() >= 100, "only {} zoneinfo files", files.len());
    let mut bad = Vec::new();
    for (name, rc, out) in run_all(&["check", "--json", "--zoneinfo"], files) {
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {out}"));
        for n in v["numbers"].as_array().unwrap() {
            if n["verdict"] == "differs" {
                bad.push(format!("{name}: {n}"));
            }
        }
        if rc != 0 {
            bad.push(format!("{name}: exit {rc}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} differing numbers:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// NUMA emulation that only the "Faking node" lines show (a built-in command line): the
/// model takes numa=fake=N from them and every line still comes out the same.
#[test]
fn emulated_nodes_are_read_off_the_faking_node_lines() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/qemu-debian");
    for (name, word) in [
        ("6.12-b-4G-smp2-numafake4-nokaslr.dmesg.txt", " numa=fake=4"),
        ("6.1-x9-8G-smp2-numafake2.dmesg.txt", " numa=fake=2"),
    ] {
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap()
            .replace(word, "");
        let p = std::env::temp_dir().join(format!("bootmm-nofake-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        let (rc, out, err) = bootmm_rc(&["check", p.to_str().unwrap()], b"");
        assert_eq!(rc, 0, "{name}: {out}{err}");
        let n = word.rsplit('=').next().unwrap();
        assert!(out.contains(&format!("numa=fake={n} assumed")), "{out}");
        assert!(out.contains(" 0 differ"), "{out}");
    }
}

/// The pagesets the model's boot leaves, against the same boot's /proc/zoneinfo: where the
/// model's low watermark is the kernel's (its boot-time managed pages agree), every CPU's
/// batch, and before 6.7 its high, must be the kernel's; from 6.7 high is a run-time value
/// and is not compared. Most zones qualify. Every zone's spanned and present pages, after the
/// late frees the log prints, are the kernel's.
#[test]
fn the_booted_pagesets_are_the_kernel_s_where_the_watermarks_are() {
    use bootmm::mm::zoneinfo::ZoneinfoFile;
    let logs = data(".dmesg.txt");
    let (mut compared, mut zones, mut extents) = (0, 0, 0);
    let mut bad = Vec::new();
    for (name, rc, out) in run_all(&["boot", "--show", "zoneinfo", "--from-dmesg"], logs) {
        assert_eq!(rc, 0, "{name}");
        let real_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/qemu-debian")
            .join(name.replace(".dmesg.txt", ".zoneinfo.txt"));
        let Ok(real) = std::fs::read_to_string(&real_path) else {
            continue;
        };
        let real = ZoneinfoFile::parse(&real).unwrap();
        let model = out.split("==> /proc/zoneinfo <==").nth(1).unwrap_or("");
        let model = ZoneinfoFile::parse(model).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let runtime_high = name.starts_with("6.12");
        for r in &real.zones {
            let Some(m) = model
                .zones
                .iter()
                .find(|m| m.nid == r.nid && m.name == r.name)
            else {
                continue;
            };
            // The zone's extent is exact everywhere, after boot as at boot.
            if (m.spanned, m.present) != (r.spanned, r.present) {
                bad.push(format!(
                    "{name}: node {} {}: spanned/present {:?} vs {:?}",
                    r.nid,
                    r.name,
                    (m.spanned, m.present),
                    (r.spanned, r.present)
                ));
            }
            extents += 1;
            if r.pcp.is_empty() {
                continue;
            }
            zones += 1;
            if r.low != m.low {
                continue;
            }
            for (rp, mp) in r.pcp.iter().zip(&m.pcp) {
                compared += 1;
                if rp.batch != mp.batch || (!runtime_high && rp.high != mp.high) {
                    bad.push(format!(
                        "{name}: node {} {} cpu {}: {rp:?} vs {mp:?}",
                        r.nid, r.name, rp.cpu
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(
        compared >= 200,
        "only {compared} pagesets compared (of {zones} zones)"
    );
    assert!(extents >= 400, "only {extents} zone extents compared");
}
