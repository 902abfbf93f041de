// SPDX-License-Identifier: GPL-2.0-only
//! `bootmm diff A B`: sides from options or boot logs, the log hunks, the zone numbers
//! (cross-checked against each side's own /proc/zoneinfo), the exit statuses.

mod common;
use common::{bootmm, bootmm_rc, corpus};
use serde_json::Value as Json;

/// Run `bootmm diff ARGS`: (exit code, stdout, stderr).
fn diff(args: &[&str]) -> (i32, String, String) {
    let mut v = vec!["diff"];
    v.extend_from_slice(args);
    bootmm_rc(&v, b"")
}

fn diff_json(args: &[&str]) -> (i32, Json) {
    let mut v = vec!["--json"];
    v.extend_from_slice(args);
    let (rc, out, err) = diff(&v);
    let j = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (rc, j)
}

/// The zone row of `zone` on node 0.
fn zone_row<'a>(j: &'a Json, zone: &str) -> &'a Json {
    j["zones"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"] == 0 && r["zone"] == zone)
        .unwrap_or_else(|| panic!("no Node 0 {zone} row: {j}"))
}

fn field<'a>(row: &'a Json, name: &str) -> &'a Json {
    row["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {row}"))
}

/// `name N` of the "Node 0, zone ZONE" block of `bootmm cat /proc/zoneinfo OPTS`.
fn zoneinfo_value(opts: &[&str], zone: &str, name: &str) -> u64 {
    let mut args = vec!["cat", "/proc/zoneinfo"];
    args.extend_from_slice(opts);
    let (ok, out, err) = bootmm(&args);
    assert!(ok, "{err}");
    let head = format!("Node 0, zone {zone:>8}");
    let block = out
        .split("\nNode ")
        .map(|b| b.trim_start_matches("Node "))
        .find(|b| format!("Node {b}").starts_with(&head))
        .unwrap_or_else(|| panic!("no {head:?} in {out}"));
    block
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {name} in {block}"))
}

#[test]
fn identical_options_are_identical() {
    let (rc, out, err) = diff(&["--mem", "1G", "--kernel 6.6", "--kernel 6.6"]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("\nlog: identical ("), "{out}");
    assert!(out.contains("\nzones: 0 differ, "), "{out}");
    assert!(out.contains("\nbuddyinfo: 0 differ, "), "{out}");
    assert!(out.contains("\nslabinfo: 0 differ, "), "{out}");
    let zone_lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  Node 0, zone"))
        .collect();
    assert!(!zone_lines.is_empty(), "{out}");
    assert!(
        zone_lines
            .iter()
            .all(|l| l.contains(": equal: ") || l.contains("  = ")),
        "{out}"
    );
    let (rc, j) = diff_json(&["--mem", "1G", "--kernel 6.6", "--kernel 6.6"]);
    assert_eq!(rc, 0);
    assert_eq!(j["log"]["identical"], true);
    assert_eq!(j["log"]["hunks"].as_array().unwrap().len(), 0);
    assert_eq!(j["a"]["machine"]["name"], "qemu-1g");
    let rows = j["zones"]["rows"].as_array().unwrap();
    assert!(rows.len() >= 3, "{j}");
    for r in rows {
        assert_eq!(r["equal"], true, "{r}");
        for f in r["fields"].as_array().unwrap() {
            assert_eq!(f["a"], f["b"], "{f}");
            assert!(f["delta"].is_null(), "{f}");
        }
    }
}

#[test]
fn more_ram_shows_in_dma32_as_each_side_zoneinfo_says() {
    let (rc, j) = diff_json(&["--mem 2G", "--mem 4G"]);
    assert_eq!(rc, 0, "{j}");
    let row = zone_row(&j, "DMA32");
    assert_eq!(row["equal"], false);
    for name in ["present", "managed"] {
        let a = zoneinfo_value(&["--mem", "2G"], "DMA32", name);
        let b = zoneinfo_value(&["--mem", "4G"], "DMA32", name);
        assert_ne!(a, b, "{name}");
        let f = field(row, name);
        assert_eq!(f["a"], a, "{name}: {f}");
        assert_eq!(f["b"], b, "{name}: {f}");
        assert_eq!(f["equal"], false);
        assert_eq!(
            f["delta"],
            i64::try_from(b).unwrap() - i64::try_from(a).unwrap()
        );
    }
    // The same numbers in the text report's DMA32 block.
    let (rc, out, _) = diff(&["--mem 2G", "--mem 4G"]);
    assert_eq!(rc, 0);
    let block: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("  Node 0, zone    DMA32:"))
        .take_while(|l| !l.starts_with("  Node 0, zone   Normal"))
        .collect();
    let present = block
        .iter()
        .find(|l| l.trim_start().starts_with("present "))
        .unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = present.split_whitespace().collect();
    let a = zoneinfo_value(&["--mem", "2G"], "DMA32", "present");
    let b = zoneinfo_value(&["--mem", "4G"], "DMA32", "present");
    assert_eq!(
        words,
        [
            "present",
            "A",
            &a.to_string(),
            "B",
            &b.to_string(),
            &format!("{:+}", b as i64 - a as i64)
        ],
        "{out}"
    );
}

#[test]
fn two_eras_give_hunks_and_typed_json() {
    let (rc, j) = diff_json(&["--kernel 4.4", "--kernel 6.6"]);
    assert_eq!(rc, 0, "{j}");
    assert_eq!(j["a"]["kernel"], "4.4");
    assert_eq!(j["b"]["kernel"], "6.6");
    assert_eq!(j["a"]["source"], "options");
    assert!(j["a"]["stopped"].is_null());
    let log = &j["log"];
    assert_eq!(log["identical"], false);
    let hunks = log["hunks"].as_array().unwrap();
    assert!(!hunks.is_empty());
    let (mut removed, mut added) = (0, 0);
    for h in hunks {
        let lines = h["lines"].as_array().unwrap();
        let count = |t: &str| lines.iter().filter(|l| l["tag"] == t).count() as u64;
        // A hunk's ranges count its context and its own side's lines.
        assert_eq!(h["a_len"], count("context") + count("removed"), "{h}");
        assert_eq!(h["b_len"], count("context") + count("added"), "{h}");
        removed += count("removed");
        added += count("added");
    }
    assert_eq!(log["removed"], removed);
    assert_eq!(log["added"], added);
    let first = &hunks[0]["lines"];
    assert_eq!(first[0]["tag"], "removed");
    assert_eq!(first[0]["text"], "Linux version 4.4");
    assert_eq!(first[1]["tag"], "added");
    assert_eq!(first[1]["text"], "Linux version 6.6");
    for s in ["zones", "buddyinfo", "slabinfo"] {
        assert_eq!(j[s]["status"], "compared", "{s}: {}", j[s]);
        assert!(j[s]["rows"].is_array(), "{s}");
    }
    // The eras' watermarks differ (6.6 has the 5.8+ min_free_kbytes sizing).
    assert_eq!(field(zone_row(&j, "DMA32"), "min")["equal"], false);
    // The text shows the same hunks.
    let (rc, out, _) = diff(&["--kernel 4.4", "--kernel 6.6"]);
    assert_eq!(rc, 0);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("@@ -")).count(),
        hunks.len()
    );
    assert!(
        out.contains("\n-Linux version 4.4\n+Linux version 6.6\n"),
        "{out}"
    );
    // Output is deterministic.
    assert_eq!(diff(&["--kernel 4.4", "--kernel 6.6"]).1, out);
}

#[test]
fn common_options_apply_to_both_sides() {
    let (rc, j) = diff_json(&[
        "--mem",
        "2G",
        "--cmdline",
        "quiet",
        "--kernel 4.4",
        "--cmdline 'mem=1G  numa=off'",
    ]);
    assert_eq!(rc, 0, "{j}");
    assert_eq!(j["a"]["machine"]["name"], "qemu-2g");
    assert_eq!(j["b"]["machine"]["name"], "qemu-2g");
    assert_eq!(j["a"]["kernel"], "4.4");
    assert_eq!(j["a"]["machine"]["cmdline"], "quiet");
    assert_eq!(j["b"]["machine"]["cmdline"], "quiet mem=1G  numa=off");
}

#[test]
fn a_boot_log_side_takes_the_machine_from_the_log() {
    let log = corpus("dmesg/007-surface-book-8g-4.4.txt");
    let log = log.to_str().unwrap();
    let (rc, j) = diff_json(&[log, log]);
    assert_eq!(rc, 0, "{j}");
    assert_eq!(j["a"]["source"], "boot_log");
    assert_eq!(j["a"]["machine"]["cpus"], 8);
    assert_eq!(j["log"]["identical"], true);
    // Machine options for both sides cannot give a second memory map.
    let (rc, _, err) = diff(&["--mem", "2G", log, ""]);
    assert_eq!(rc, 2);
    assert!(err.contains(&format!("A {log:?}")), "{err}");
}

#[test]
fn a_bad_side_is_a_usage_error_naming_it() {
    for (args, named) in [
        (["", "--kernel banana"], "B \"--kernel banana\""),
        (["--frobnicate 3", ""], "A \"--frobnicate 3\""),
        (["", "--cmdline 'unclosed"], "B \"--cmdline 'unclosed\""),
        (["/nonexistent/boot.log", ""], "/nonexistent/boot.log"),
    ] {
        let (rc, out, err) = diff(&args);
        assert_eq!(rc, 2, "{args:?}: {out}{err}");
        assert!(err.contains(named), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}

#[test]
fn a_stopped_era_is_shown_with_its_reason() {
    let (rc, out, err) = diff(&["--i386 i386 --kernel 2.6.30", "--kernel 6.6"]);
    assert_eq!(rc, 1, "{out}{err}");
    let stop = out
        .lines()
        .find(|l| l.starts_with("A: boot stopped after log line "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(stop.contains("not modelled yet"), "{stop}");
    assert!(stop.contains("bootmem"), "{stop}");
    assert!(!out.contains("B: boot stopped"), "{out}");
    // Its log up to the stop is in the diff.
    assert!(out.contains("\n-Linux version 2.6.30\n"), "{out}");
    for s in ["zones", "buddyinfo", "slabinfo"] {
        assert!(
            out.contains(&format!("\n{s}: not reached (the boot of A stopped)\n")),
            "{s}: {out}"
        );
    }
    assert!(err.contains("A: boot stopped"), "{err}");
    let (rc, j) = diff_json(&["--i386 i386 --kernel 2.6.30", "--kernel 6.6"]);
    assert_eq!(rc, 1);
    let st = &j["a"]["stopped"];
    assert!(st["reason"].as_str().unwrap().contains("2.6.30"), "{st}");
    assert_eq!(st["after_lines"], j["log"]["a_lines"]);
    assert!(st["last_call"][0] == "start_kernel", "{st}");
    assert!(j["b"]["stopped"].is_null());
    assert_eq!(j["zones"]["status"], "not_reached");
    assert_eq!(j["zones"]["sides"], serde_json::json!(["A"]));
}
