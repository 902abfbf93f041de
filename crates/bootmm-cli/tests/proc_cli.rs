//! `bootmm cat`, `bootmm boot --show` and script `cat()` of the /proc files, as text and JSON.

use assert_cmd::Command;

fn bootmm(args: &[&str], stdin: &str) -> (bool, String, String) {
    let out = Command::cargo_bin("bootmm")
        .unwrap()
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field(meminfo: &str, name: &str) -> u64 {
    let l = meminfo
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {meminfo}"));
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn cat_zoneinfo_of_the_default_machine() {
    let (ok, out, err) = bootmm(&["cat", "/proc/zoneinfo"], "");
    assert!(ok, "{err}");
    assert!(
        out.starts_with("Node 0, zone      DMA\n  per-node stats\n"),
        "{out}"
    );
    for z in ["DMA32", "Normal", "Movable", "Device"] {
        assert!(
            out.contains(&format!("Node 0, zone {z:>8}\n")),
            "{z}: {out}"
        );
    }
    assert!(out.contains("\n  pagesets\n    cpu: 0\n"), "{out}");
    assert!(!out.contains("==>"), "one file has no header: {out}");
}

#[test]
fn cat_meminfo_totals_match_zoneinfo() {
    let (ok, out, err) = bootmm(
        &["cat", "/proc/meminfo", "/proc/zoneinfo", "--mem", "2G"],
        "",
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("==> /proc/meminfo <==\nMemTotal:       "),
        "{out}"
    );
    let (mem, zone) = out.split_once("==> /proc/zoneinfo <==\n").unwrap();
    let sum = |label: &str| -> u64 {
        zone.lines()
            .filter_map(|l| l.trim_start().strip_prefix(label))
            .map(|v| v.trim().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(field(mem, "MemTotal"), sum("managed  ") * 4);
    assert_eq!(field(mem, "MemFree"), sum("pages free     ") * 4);
}

#[test]
fn cat_unknown_file_lists_the_known_ones() {
    let (ok, out, err) = bootmm(&["cat", "/proc/vmstat"], "");
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        err.contains("no such file: \"/proc/vmstat\" (known: /proc/buddyinfo, /proc/pagetypeinfo, /proc/zoneinfo, /proc/meminfo, /proc/slabinfo, /proc/vmallocinfo, /sys/kernel/debug/page_tables/kernel)"),
        "{err}"
    );
}

#[test]
fn cat_json_has_every_file_as_a_structure() {
    let (ok, out, err) = bootmm(
        &[
            "cat",
            "--json",
            "--mem",
            "1G",
            "/proc/buddyinfo",
            "/proc/pagetypeinfo",
            "/proc/zoneinfo",
            "/proc/meminfo",
        ],
        "",
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let zi = v["/proc/zoneinfo"].as_array().unwrap();
    let bi = v["/proc/buddyinfo"].as_array().unwrap();
    // 1 GiB: DMA and DMA32 populated, Normal, Movable and Device empty.
    assert_eq!(zi.len(), 5);
    assert_eq!(bi.len(), 2);
    for (z, b) in zi.iter().filter(|z| z["populated"] == true).zip(bi) {
        assert_eq!(z["zone"], b["zone"]);
        let free: u64 = b["nr_free"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(o, n)| n.as_u64().unwrap() << o)
            .sum();
        assert_eq!(z["pages_free"].as_u64().unwrap(), free);
        assert_eq!(z["stats"]["nr_free_pages"].as_u64().unwrap(), free);
        assert_eq!(z["protection"].as_array().unwrap().len(), 5);
    }
    assert!(zi[0]["per_node_stats"]["nr_inactive_anon"].is_u64());
    assert!(
        zi[2].get("stats").is_none(),
        "an empty zone has no counters"
    );
    let mi = &v["/proc/meminfo"];
    assert_eq!(mi["MemTotal"]["unit"], "kB");
    assert_eq!(mi["HugePages_Total"]["unit"], "pages");
    let managed: u64 = zi.iter().map(|z| z["managed"].as_u64().unwrap()).sum();
    assert_eq!(mi["MemTotal"]["value"].as_u64().unwrap(), managed * 4);
    let pt = &v["/proc/pagetypeinfo"];
    assert_eq!(pt["pages_per_block"], 512);
    assert!(pt["blocks"][0]["blocks"]["Movable"].as_u64().unwrap() > 0);
}

#[test]
fn boot_show_prints_the_files_after_the_log() {
    let (ok, out, err) = bootmm(
        &[
            "boot",
            "--mem",
            "1G",
            "--show",
            "buddyinfo,zoneinfo,pagetypeinfo,meminfo",
        ],
        "",
    );
    assert!(ok, "{err}");
    let log_end = out
        .find("\n==> /proc/buddyinfo <==\n")
        .expect("buddyinfo header");
    assert!(out[..log_end].contains("Memory: "), "the log comes first");
    let order: Vec<usize> = ["buddyinfo", "zoneinfo", "pagetypeinfo", "meminfo"]
        .iter()
        .map(|f| out.find(&format!("==> /proc/{f} <==")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(out.contains("==> /proc/meminfo <==\nMemTotal:"), "{out}");
}

#[test]
fn boot_show_rejects_an_unknown_file() {
    let (ok, _, err) = bootmm(&["boot", "--show", "zoneinfo,vmstat"], "");
    assert!(!ok);
    assert!(err.contains("--show: no such file: \"vmstat\""), "{err}");
}

#[test]
fn boot_json_has_the_log_and_the_files() {
    let (ok, out, err) = bootmm(&["boot", "--json", "--mem", "1G", "--show", "meminfo"], "");
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(v["log"].as_array().unwrap().len() > 10);
    assert!(
        v["proc"]["/proc/meminfo"]["MemFree"]["value"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn old_era_zoneinfo_layout() {
    let (ok, out, err) = bootmm(
        &["cat", "/proc/zoneinfo", "--kernel", "4.4", "--mem", "1G"],
        "",
    );
    assert!(ok, "{err}");
    assert!(!out.contains("per-node stats"), "{out}");
    assert!(out.contains("\n        scanned  0\n"), "{out}");
    assert!(out.contains("\n    nr_alloc_batch "), "{out}");
    assert!(out.contains("\n  all_unreclaimable: "), "{out}");
    assert!(
        !out.contains("zone  Movable"),
        "only populated zones before 4.12: {out}"
    );
}

#[test]
fn script_cat_zoneinfo_and_meminfo() {
    let src = "cat(\"/proc/zoneinfo\")\ncat(\"/proc/meminfo\")\n";
    let (ok, out, err) = bootmm(&["script", "--mem", "1G"], src);
    assert!(ok, "{out}{err}");
    assert!(out.contains("Node 0, zone    DMA32\n"), "{out}");
    assert!(out.contains("MemAvailable:   "), "{out}");
    let (ok, _, err) = bootmm(&["script", "--mem", "1G"], "cat(\"/proc/vmstat\")\n");
    assert!(!ok);
    assert!(err.contains("/proc/zoneinfo, /proc/meminfo"), "{err}");
}

#[test]
fn eras_without_zones_say_so() {
    let (ok, out, err) = bootmm(
        &[
            "cat",
            "/proc/meminfo",
            "--i386",
            "i386",
            "--kernel",
            "2.6.30",
            "--mem",
            "1G",
        ],
        "",
    );
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("not modelled yet: the percpu first chunk and the rest of a 2.6.30 i386 boot"),
        "{err}"
    );
}

#[test]
fn i386_meminfo_splits_lowmem_and_highmem() {
    let (ok, out, err) = bootmm(
        &["cat", "/proc/meminfo", "--i386", "pae", "--mem", "2G"],
        "",
    );
    assert!(ok, "{err}");
    let kb = |key: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().strip_suffix(" kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in {out}"))
    };
    let (total, high, low) = (kb("MemTotal:"), kb("HighTotal:"), kb("LowTotal:"));
    assert_eq!(high + low, total);
    // About 1.15 GiB of a 2 GiB machine lies above the lowmem limit.
    assert!(high > 1_100_000 && high < 1_250_000, "{high}");
    assert!(kb("HighFree:") <= high && kb("HighFree:") > 0);
}

#[test]
fn slabinfo_cat_show_and_tool_agree_on_the_kmalloc_geometry() {
    // 8 CPUs on 6.6: min_objects 20, so kmalloc-256 takes order-1 slabs of 32.
    let (ok, out, err) = bootmm(
        &["cat", "/proc/slabinfo", "--cpus", "8", "--kernel", "6.6"],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("slabinfo - version: 2.1\n"));
    let line = out.lines().find(|l| l.starts_with("kmalloc-256 ")).unwrap();
    assert_eq!(line.split_whitespace().nth(3), Some("256"));
    assert_eq!(line.split_whitespace().nth(4), Some("32"));
    assert_eq!(line.split_whitespace().nth(5), Some("2"));
    let (ok, shown, err) = bootmm(
        &[
            "boot", "--show", "slabinfo", "--cpus", "8", "--kernel", "6.6",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(shown.contains(line), "{shown}");
    // The slabinfo tool's view: only caches with slabs, sorted by name, the tool's header.
    let (ok, tool, err) = bootmm(&["slabinfo", "--cpus", "8", "--kernel", "6.6"], "");
    assert!(ok, "{err}");
    let mut lines = tool.lines();
    assert_eq!(
        lines.next(),
        Some("Name                   Objects Objsize           Space Slabs/Part/Cpu  O/S O %Fr %Ef Flg")
    );
    let names: Vec<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["kmem_cache", "kmem_cache_node", "vmap_area"]);
    let (ok, json, err) = bootmm(
        &["slabinfo", "-z", "--json", "--cpus", "8", "--kernel", "6.6"],
        "",
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let k256 = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "kmalloc-256")
        .unwrap();
    assert_eq!(
        (k256["objs_per_slab"].as_u64(), k256["order"].as_u64()),
        (Some(32), Some(1))
    );
}

#[test]
fn script_slabinfo_shows_what_the_script_allocated() {
    let (ok, out, err) = bootmm(
        &["script", "-"],
        "c = kmem_cache_create(\"student\", 100, 0, SLAB_HWCACHE_ALIGN)\na = kmem_cache_alloc(c, GFP_KERNEL)\nslabinfo()\n",
    );
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("student "))
        .unwrap_or_else(|| panic!("{out}"));
    // One CPU slab of 32 128-byte objects (100 rounded to the half cache line), all counted
    // as used while the CPU holds the slab.
    assert_eq!(
        line,
        "student                     32     100            4.0K          0/0/1   32 0   0  78 A"
    );
}
