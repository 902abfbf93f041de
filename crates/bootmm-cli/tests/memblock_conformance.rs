// SPDX-License-Identifier: GPL-2.0-only
//! Replays the kernel's own memblock tests (tools/testing/memblock, turned into data under
//! `../shared/conformance/memblock`) through `bootmm script --bare --json`.
//!
//! Each case becomes a run of script lines: the setup the C helpers do, the calls, and
//! `ASSERT_*` lines for everything the C test asserts. All cases of one file run in one process
//! (each starts with `reset_memblock_regions()`); the case that checks the compile-time
//! initializer runs alone in a fresh process, and `repeat_while_changed` cases run alone so the
//! loop can be repeated until the watched value stops changing. Every case runs at two DRAM bases.

use std::collections::BTreeMap;
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value as Json;

/// Dummy physical memory bases B (page aligned, >= 16 MiB, above the reserve-many addresses).
const BASES: [i128; 2] = [0x4000_0000, 0x100_0000];

/// What the harness checks on a line's output beyond "no error".
#[derive(Clone, Debug)]
enum Post {
    None,
    /// An error on this line is expected when it says the kernel ignored the call
    /// (memblock_free / memblock_remove of a range that is not there).
    IgnoredOk,
    /// A dump: check names, bottom_up and current_limit of the initializer.
    Names {
        memory: String,
        reserved: String,
    },
    /// A dump: check the node ids of reserved regions.
    Nids {
        all_valid: bool,
        last: Option<i64>,
        other: Option<i64>,
    },
    /// `__w = memblock.X` before/after a repeat body: record the value.
    Watch,
}

struct Gen {
    base: i128,
    lines: Vec<String>,
    /// Per line: which case, and what to check.
    owner: Vec<(usize, Post)>,
    case: usize,
    prefix: String,
    /// Problems found while generating (unsupported constructs): the case fails.
    problems: BTreeMap<usize, Vec<String>>,
}

fn num(v: &Json) -> Option<i128> {
    v.as_i64()
        .map(|x| x as i128)
        .or_else(|| v.as_u64().map(|x| x as i128))
}

impl Gen {
    fn new(base: i128) -> Self {
        Gen {
            base,
            lines: Vec::new(),
            owner: Vec::new(),
            case: 0,
            prefix: String::new(),
            problems: BTreeMap::new(),
        }
    }
    fn emit(&mut self, line: String, post: Post) {
        self.lines.push(line);
        self.owner.push((self.case, post));
    }
    fn problem(&mut self, msg: String) {
        self.problems.entry(self.case).or_default().push(msg);
    }
    fn var(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }
    /// An address field: offset from B when addr_base is "dram".
    fn addr(&self, v: &Json, addr_base: Option<&str>) -> String {
        match (num(v), v.as_str()) {
            (Some(n), _) if addr_base == Some("dram") => format!("{:#x}", self.base + n),
            (Some(n), _) if n < 0 => format!("-{:#x}", -n),
            (Some(n), _) => format!("{n:#x}"),
            (None, Some(s)) => s.to_string(),
            _ => "?".into(),
        }
    }
    fn plain(&self, v: &Json) -> String {
        match v {
            Json::Bool(b) => b.to_string(),
            Json::String(s) if s == "memory" || s == "reserved" => format!("memblock.{s}"),
            Json::String(s) => s.clone(),
            _ => match num(v) {
                Some(n) if n < 0 => format!("{n}"),
                Some(n) => format!("{n:#x}"),
                None => "?".into(),
            },
        }
    }

    fn call(&mut self, op: &Json) {
        let f = op["fn"].as_str().unwrap_or("");
        let ab = op["addr_base"].as_str();
        let params: &[&str] = match f {
            "memblock_add"
            | "memblock_reserve"
            | "memblock_reserve_kern"
            | "memblock_remove"
            | "memblock_free"
            | "memblock_phys_free" => &["base", "size"],
            "memblock_add_node" | "__memblock_reserve" => &["base", "size", "nid", "flags"],
            "memblock_set_bottom_up" => &["enable"],
            "memblock_trim_memory" => &["align"],
            "memblock_overlaps_region" => &["type", "base", "size"],
            "memblock_set_node" => &["base", "size", "type", "nid"],
            "memblock_allow_resize" | "reset_memblock_attributes" | "reset_memblock_regions" => &[],
            "memblock_alloc" | "memblock_alloc_raw" | "memblock_alloc_low" => &["size", "align"],
            "memblock_alloc_from" => &["size", "align", "min_addr"],
            "memblock_alloc_node" => &["size", "align", "nid"],
            "memblock_alloc_try_nid"
            | "memblock_alloc_try_nid_raw"
            | "memblock_alloc_exact_nid_raw" => &["size", "align", "min_addr", "max_addr", "nid"],
            _ => {
                self.problem(format!("unsupported op {f}"));
                return;
            }
        };
        let args = &op["args"];
        let mut text = Vec::new();
        for p in params {
            let v = &args[*p];
            if v.is_null() {
                self.problem(format!("{f}: missing argument {p}"));
                return;
            }
            let is_addr = matches!(*p, "base" | "min_addr" | "max_addr");
            text.push(if is_addr {
                self.addr(v, ab)
            } else {
                self.plain(v)
            });
        }
        let lhs = match op["ret"].as_str() {
            Some(r) => format!("{} = ", self.var(r)),
            None => String::new(),
        };
        let post = if f == "memblock_free" || f == "memblock_remove" {
            Post::IgnoredOk
        } else {
            Post::None
        };
        self.emit(format!("{lhs}{f}({});", text.join(", ")), post);
    }

    fn assert_eq(&mut self, lhs: &str, rhs: String) {
        self.emit(format!("ASSERT_EQ({lhs}, {rhs});"), Post::None);
    }

    /// `{base,size,nid,flags,addr_base}` of `memblock.T.regions[i]`.
    fn region(&mut self, ty: &str, idx: i128, r: &Json) {
        let ab = r["addr_base"].as_str();
        if !r["base"].is_null() {
            let v = self.addr(&r["base"], ab);
            self.assert_eq(&format!("memblock.{ty}.regions[{idx}].base"), v);
        }
        if !r["size"].is_null() {
            let v = self.plain(&r["size"]);
            self.assert_eq(&format!("memblock.{ty}.regions[{idx}].size"), v);
        }
        if !r["nid"].is_null() {
            let v = self.plain(&r["nid"]);
            self.assert_eq(&format!("memblock.{ty}.regions[{idx}].nid"), v);
        }
        if !r["flags"].is_null() {
            let v = self.plain(&r["flags"]);
            self.assert_eq(&format!("memblock.{ty}.regions[{idx}].flags"), v);
        }
    }

    fn memory_bytes(&mut self, m: &Json) {
        let base = self.addr(&m["base"], m["addr_base"].as_str());
        let v = self.var(&format!("bytes{}", self.lines.len()));
        self.emit(
            format!(
                "{v} = memchr_inv({base}, {}, {});",
                self.plain(&m["byte"]),
                self.plain(&m["size"])
            ),
            Post::None,
        );
        self.assert_eq(&v, "NULL".into());
    }

    /// One `expect_state` / `expect` key.
    fn state(&mut self, key: &str, v: &Json) {
        match key {
            "memory_bytes" => self.memory_bytes(v),
            "memblock_bottom_up()" => {
                let b = self.var(&format!("bu{}", self.lines.len()));
                self.emit(format!("{b} = memblock_bottom_up();"), Post::None);
                let rhs = self.plain(v);
                self.assert_eq(&b, rhs);
            }
            "memblock.bottom_up" | "memblock.current_limit" => {
                let rhs = self.plain(v);
                self.assert_eq(key, rhs);
            }
            _ => {
                let (ty, field) = match key.split_once('.') {
                    Some((t @ ("memory" | "reserved"), f)) => (t, f),
                    _ => {
                        self.problem(format!("unsupported expectation {key}"));
                        return;
                    }
                };
                if let Some(idx) = field
                    .strip_prefix("regions[")
                    .and_then(|s| s.strip_suffix(']'))
                {
                    let idx: i128 = idx.parse().unwrap_or(-1);
                    self.region(ty, idx, v);
                } else if matches!(field, "cnt" | "max" | "total_size") {
                    let rhs = self.plain(v);
                    self.assert_eq(&format!("memblock.{ty}.{field}"), rhs);
                } else if field == "name" {
                    // checked from a dump (see Post::Names)
                } else {
                    self.problem(format!("unsupported expectation {key}"));
                }
            }
        }
    }

    fn series(&mut self, op: &Json) {
        let s = &op["series"];
        let f = op["fn"].as_str().unwrap_or("");
        let ab = op["addr_base"].as_str();
        let (from, to, skip) = match num(&s["count"]) {
            Some(c) => (0, c - 1, None),
            None => (
                num(&s["index_from"]).unwrap_or(0),
                num(&s["index_to_inclusive"]).unwrap_or(-1),
                num(&s["skip_index"]),
            ),
        };
        let (first, stride) = (
            num(&s["base_first"]).unwrap_or(0),
            num(&s["stride"]).unwrap_or(0),
        );
        let size = self.plain(&s["size"]);
        let eae: Vec<(String, String)> = op["expect_after_each"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut n = 0;
        for i in from..=to {
            if Some(i) == skip {
                continue;
            }
            let base = self.addr(&Json::from((first + stride * (i - from)) as i64), ab);
            let post = if f == "memblock_free" || f == "memblock_remove" {
                Post::IgnoredOk
            } else {
                Post::None
            };
            self.emit(format!("{f}({base}, {size});"), post);
            n += 1;
            for (k, formula) in &eae {
                // Substitute n into the formula, token by token.
                let expr: String = formula
                    .split_inclusive(|c: char| !c.is_ascii_alphanumeric())
                    .map(|t| {
                        let (word, rest) = t.split_at(
                            t.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                                .len(),
                        );
                        if word == "n" {
                            format!("{n}{rest}")
                        } else {
                            t.to_string()
                        }
                    })
                    .collect();
                self.assert_eq(&format!("memblock.{k}"), expr);
            }
        }
    }

    fn ops(&mut self, ops: &[Json], passes: usize) {
        for op in ops {
            match op["fn"].as_str().unwrap_or("") {
                "expect_state" => {
                    if let Some(m) = op["state"].as_object() {
                        for (k, v) in m {
                            self.state(k, v);
                        }
                    }
                }
                "repeat_while_changed" => {
                    let watch = op["watch"].as_str().unwrap_or("");
                    let body = op["body"].as_array().cloned().unwrap_or_default();
                    for p in 0..passes {
                        let w = self.var(&format!("watch_before{p}"));
                        self.emit(format!("{w} = memblock.{watch};"), Post::Watch);
                        self.ops(&body, 1);
                        let w = self.var(&format!("watch_after{p}"));
                        self.emit(format!("{w} = memblock.{watch};"), Post::Watch);
                    }
                }
                _ if !op["series"].is_null() => self.series(op),
                _ => self.call(op),
            }
        }
    }

    fn case(&mut self, idx: usize, c: &Json, passes: usize) {
        self.case = idx;
        self.prefix = format!("c{idx}_");
        let setup = &c["setup"];
        let kind = setup["kind"].as_str().unwrap_or("");
        if kind != "initial" {
            if setup["reset_memblock_regions"].as_bool() == Some(true) {
                self.emit("reset_memblock_regions();".into(), Post::None);
            }
            self.emit("reset_memblock_attributes();".into(), Post::None);
            if setup["bottom_up"].as_bool() == Some(true) {
                self.emit("memblock_set_bottom_up(true);".into(), Post::None);
            }
            match setup["current_limit"].as_str() {
                Some("MEMBLOCK_ALLOC_ANYWHERE") => {}
                _ => {
                    let l = self.addr(
                        &setup["current_limit"],
                        setup["current_limit_addr_base"].as_str(),
                    );
                    self.emit(format!("memblock_set_current_limit({l});"), Post::None);
                }
            }
            if setup["memblock_can_resize"].as_bool() == Some(true) {
                self.emit("memblock_allow_resize();".into(), Post::None);
            }
            if let Some(l) = setup.get("ARCH_LOW_ADDRESS_LIMIT") {
                let v = self.addr(&l["value"], l["addr_base"].as_str());
                self.emit(format!("ARCH_LOW_ADDRESS_LIMIT = {v};"), Post::None);
            }
        }
        let sops = setup["ops"].as_array().cloned().unwrap_or_default();
        self.ops(&sops, 1);
        if let Some(d) = setup.get("dummy_physical_memory") {
            // fill_memblock()
            let base = self.addr(&d["base"], d["addr_base"].as_str());
            self.emit(
                format!(
                    "memset({base}, {}, {});",
                    self.plain(&d["fill_byte"]),
                    self.plain(&d["size"])
                ),
                Post::None,
            );
        }
        let ops = c["ops"].as_array().cloned().unwrap_or_default();
        self.ops(&ops, passes);

        let e = &c["expect"];
        let Some(exp) = e.as_object() else { return };
        for (key, v) in exp {
            match key.as_str() {
                "returns" => {
                    for (name, r) in v.as_object().into_iter().flatten() {
                        let var = self.var(name);
                        if r.is_null() {
                            self.assert_eq(&var, "NULL".into());
                        } else if r.is_boolean() || num(r).is_some() {
                            let rhs = self.plain(r);
                            self.assert_eq(&var, rhs);
                        } else if !r["addr"].is_null() {
                            let rhs = self.addr(&r["addr"], r["addr_base"].as_str());
                            self.assert_eq(&var, rhs);
                        } else if r["non_null"].as_bool() == Some(true) {
                            self.emit(format!("ASSERT_NE({var}, NULL);"), Post::None);
                            if !r["min_addr"].is_null() {
                                let m = self.addr(&r["min_addr"], r["addr_base"].as_str());
                                self.emit(format!("ASSERT_LE({m}, {var});"), Post::None);
                            }
                        } else {
                            self.problem(format!("unsupported return expectation {r}"));
                        }
                    }
                }
                "memory" | "reserved" => {
                    let ty = key.as_str();
                    for r in v["regions"].as_array().into_iter().flatten() {
                        let i = num(&r["index"]).unwrap_or(0);
                        self.region(ty, i, r);
                    }
                    for f in ["cnt", "max", "total_size"] {
                        if !v[f].is_null() {
                            let rhs = self.plain(&v[f]);
                            self.assert_eq(&format!("memblock.{ty}.{f}"), rhs);
                        }
                    }
                    if v["regions_complete"].as_bool() == Some(true) && v["cnt"].is_null() {
                        let n = v["regions"].as_array().map(|a| a.len()).unwrap_or(0);
                        self.assert_eq(&format!("memblock.{ty}.cnt"), n.to_string());
                    }
                    if let Some(s0) = v.get("regions_slot0") {
                        self.region(ty, 0, &serde_json::json!({"base": s0["base"], "size": s0["size"], "addr_base": "abs"}));
                    }
                }
                "content" => {
                    for (j, ct) in v.as_array().into_iter().flatten().enumerate() {
                        let p = self.var(ct["ret"].as_str().unwrap_or("?"));
                        let byte = match ct["expect"].as_str() {
                            Some("zeroed") => 0,
                            Some("unchanged_fill_0x01") => 1,
                            other => {
                                self.problem(format!("unsupported content expectation {other:?}"));
                                continue;
                            }
                        };
                        let chk = self.var(&format!("content{j}"));
                        self.emit(
                            format!(
                                "{chk} = memchr_inv({p}, {byte}, {});",
                                self.plain(&ct["size"])
                            ),
                            Post::None,
                        );
                        self.assert_eq(&chk, "NULL".into());
                    }
                }
                "memory_bytes" => self.memory_bytes(v),
                "also_asserted" => {
                    for a in v.as_array().into_iter().flatten() {
                        let op = match a.as_str() {
                            Some("region end <= ARCH_LOW_ADDRESS_LIMIT") => "ASSERT_LE",
                            Some("region end == ARCH_LOW_ADDRESS_LIMIT") => "ASSERT_EQ",
                            other => {
                                self.problem(format!("unsupported assertion {other:?}"));
                                continue;
                            }
                        };
                        // The allocation under test: the last memblock_alloc_low with a result.
                        let alloc = ops
                            .iter()
                            .rev()
                            .find(|o| o["fn"] == "memblock_alloc_low" && o["ret"].is_string());
                        match alloc {
                            Some(o) => {
                                let p = self.var(o["ret"].as_str().unwrap_or("?"));
                                let size = self.plain(&o["args"]["size"]);
                                self.emit(
                                    format!("{op}({p} + {size}, ARCH_LOW_ADDRESS_LIMIT);"),
                                    Post::None,
                                );
                            }
                            None => self.problem(format!("no allocation for {a}")),
                        }
                    }
                }
                "memory.name" | "reserved.name" => {}
                "memblock.bottom_up" | "memblock.current_limit" => self.state(key, v),
                "reserved.all_regions_nid_valid"
                | "reserved.last_region_nid"
                | "reserved.other_regions_nid" => {}
                other => self.problem(format!("unsupported expectation {other}")),
            }
        }
        if exp.contains_key("memory.name") || exp.contains_key("reserved.name") {
            let post = Post::Names {
                memory: exp
                    .get("memory.name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("memory")
                    .into(),
                reserved: exp
                    .get("reserved.name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("reserved")
                    .into(),
            };
            self.emit("memblock_dump_all();".into(), post);
        }
        if exp.contains_key("reserved.all_regions_nid_valid")
            || exp.contains_key("reserved.last_region_nid")
        {
            let post = Post::Nids {
                all_valid: exp
                    .get("reserved.all_regions_nid_valid")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                last: exp.get("reserved.last_region_nid").and_then(|v| v.as_i64()),
                other: exp
                    .get("reserved.other_regions_nid")
                    .and_then(|v| v.as_i64()),
            };
            self.emit("memblock_dump_all();".into(), post);
        }
    }
}

fn conformance_dir() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/memblock");
    assert!(
        dir.is_dir(),
        "the memblock conformance cases are missing: expected {} (../shared/conformance/memblock from the repository root)",
        dir.display()
    );
    dir
}

fn run(script: &str) -> Vec<Json> {
    let out = Command::cargo_bin("bootmm")
        .expect("the bootmm binary")
        .args(["script", "--bare", "--json"])
        .write_stdin(script.to_string())
        .output()
        .expect("bootmm runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Check one process's output; record failures per case.
fn judge(g: &Gen, out: &[Json], fails: &mut BTreeMap<usize, Vec<String>>, watches: &mut Vec<i128>) {
    let mut seen = vec![false; g.lines.len()];
    for o in out {
        let Some(line) = o["line"].as_u64().map(|l| l as usize) else {
            continue;
        };
        let Some((case, post)) = g.owner.get(line - 1) else {
            continue;
        };
        seen[line - 1] = true;
        let src = &g.lines[line - 1];
        if let Some(err) = o["error"].as_str() {
            if matches!(post, Post::IgnoredOk) && err.contains("the kernel ignores this call") {
                continue;
            }
            fails
                .entry(*case)
                .or_default()
                .push(format!("`{src}`: {err}"));
            continue;
        }
        match post {
            Post::None | Post::IgnoredOk => {}
            Post::Watch => watches.push(num(&o["args"][0]).unwrap_or(-1)),
            Post::Names { memory, reserved } => {
                let ok = o["memory"]["name"] == memory.as_str()
                    && o["reserved"]["name"] == reserved.as_str()
                    && o["memory"]["max"] == 128
                    && o["bottom_up"] == false
                    && o["current_limit"] == u64::MAX;
                if !ok {
                    fails
                        .entry(*case)
                        .or_default()
                        .push(format!("initializer differs: {o}"));
                }
            }
            Post::Nids {
                all_valid,
                last,
                other,
            } => {
                let regions = o["reserved"]["regions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let nids: Vec<i64> = regions
                    .iter()
                    .map(|r| r["nid"].as_i64().unwrap_or(-999))
                    .collect();
                let mut ok = !nids.is_empty();
                if *all_valid {
                    ok &= nids.iter().all(|&n| (0..64).contains(&n));
                }
                if let Some(l) = last {
                    ok &= nids.last() == Some(l);
                }
                if let Some(x) = other {
                    ok &= nids[..nids.len().saturating_sub(1)].iter().all(|n| n == x);
                }
                if !ok {
                    fails
                        .entry(*case)
                        .or_default()
                        .push(format!("reserved node ids {nids:?}"));
                }
            }
        }
    }
    for (i, s) in seen.iter().enumerate() {
        if !s {
            fails
                .entry(g.owner[i].0)
                .or_default()
                .push(format!("no output for `{}`", g.lines[i]));
        }
    }
}

#[test]
fn memblock_conformance() {
    let dir = conformance_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the conformance directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures: Vec<String> = Vec::new();
    let skipped: Vec<String> = Vec::new();
    for f in &files {
        let cases: Vec<Json> =
            serde_json::from_str(&std::fs::read_to_string(f).expect("read cases"))
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        total += cases.len();
        for base in BASES {
            let mut fails: BTreeMap<usize, Vec<String>> = BTreeMap::new();
            // Cases that need their own process.
            let alone = |c: &Json| {
                c["setup"]["kind"] == "initial"
                    || c.to_string().contains("\"repeat_while_changed\"")
            };
            let mut g = Gen::new(base);
            for (i, c) in cases.iter().enumerate() {
                if !alone(c) {
                    g.case(i, c, 1);
                }
            }
            let out = run(&(g.lines.join("\n") + "\n"));
            judge(&g, &out, &mut fails, &mut Vec::new());
            for (i, p) in &g.problems {
                fails.entry(*i).or_default().extend(p.iter().cloned());
            }
            for (i, c) in cases.iter().enumerate().filter(|(_, c)| alone(c)) {
                // repeat_while_changed: rerun with one more pass until the watched value
                // stays the same through the last pass.
                let mut passes = 1;
                loop {
                    let mut g = Gen::new(base);
                    g.case(i, c, passes);
                    let out = run(&(g.lines.join("\n") + "\n"));
                    let mut f1 = BTreeMap::new();
                    let mut w = Vec::new();
                    judge(&g, &out, &mut f1, &mut w);
                    let changed = w.len() >= 2 && w[w.len() - 2] != w[w.len() - 1];
                    if changed && passes < 16 {
                        passes += 1;
                        continue;
                    }
                    for (k, v) in f1 {
                        fails.entry(k).or_default().extend(v);
                    }
                    for (k, p) in g.problems {
                        fails.entry(k).or_default().extend(p);
                    }
                    break;
                }
            }
            for (i, msgs) in fails {
                failures.push(format!(
                    "{} (B = {base:#x}): {}",
                    cases[i]["id"].as_str().unwrap_or("?"),
                    msgs.join("; ")
                ));
            }
        }
    }
    println!(
        "memblock conformance: {total} cases x {} bases, {} failures, {} skipped",
        BASES.len(),
        failures.len(),
        skipped.len()
    );
    for s in &skipped {
        println!("skipped: {s}");
    }
    assert!(total >= 368, "expected at least the 368 cases of basic_api, alloc_api, alloc_helpers_api and alloc_low_api, found {total}");
    assert!(
        failures.is_empty(),
        "{} failing case runs:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
