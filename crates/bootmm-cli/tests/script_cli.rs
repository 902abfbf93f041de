// SPDX-License-Identifier: GPL-2.0-only
//! `bootmm script` as a user runs it: transcript, JSON, errors and exit status.

mod common;

/// `bootmm ARGS` with `stdin`: (stdout, stderr, exit code).
fn bootmm(args: &[&str], stdin: &str) -> (String, String, i32) {
    bootmm_bytes(args, stdin.as_bytes().to_vec())
}

#[test]
fn transcript_shows_calls_and_results() {
    let (out, err, rc) = bootmm(
        &["script", "--bare"],
        "memblock_add(0x100000, 32K);\nmemblock_alloc(0x800, 0x8);\nmemblock_dump_all()\n",
    );
    assert_eq!(rc, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "memblock_add(0x100000, 32K) = 0");
    assert_eq!(lines[1], "memblock_alloc(0x800, 0x8) = 0x0000000000107800");
    assert_eq!(lines[2], "memblock_dump_all()");
    assert_eq!(lines[3], "MEMBLOCK configuration:");
}

#[test]
fn json_lines() {
    let (out, _, rc) = bootmm(
        &["script", "--bare", "--json", "-"],
        "memblock_add(0x100000, 32K)\nmemblock_alloc(0x800, 0x8)\nmemblock_dump_all()\n",
    );
    assert_eq!(rc, 0);
    let v: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[1]["call"], "memblock_alloc");
    assert_eq!(v[1]["args"], serde_json::json!([2048, 8]));
    assert_eq!(v[1]["ret"], 0x107800);
    assert_eq!(v[2]["reserved"]["regions"][0]["size"], 2048);
    assert_eq!(v[2]["memory"]["cnt"], 1);
    assert_eq!(v[2]["memory"]["total_size"], 32768);
}

#[test]
fn errors_name_the_line_keep_going_and_fail_the_run() {
    let script = "memblock_add(0x100000, 1M)\nmemblock_frobnicate(1)\nmemblock_reserve(0x1000, memblock.memory)\nmemblock_phys_free(0x900000, 0x1000)\nmemblock_alloc(0x100, 0x10)\n";
    let (out, err, rc) = bootmm(&["script", "--bare"], script);
    assert_ne!(rc, 0);
    assert!(
        err.contains("line 2: unknown call `memblock_frobnicate`"),
        "{err}"
    );
    assert!(
        err.contains("line 3: memblock_reserve: argument 2 (size)"),
        "{err}"
    );
    // The kernel ignores a free of what was never reserved: a note, not an error.
    assert!(err.contains("line 4: note: memblock_phys_free(0x900000, 0x1000): nothing in [0x900000-0x900fff] is reserved; the kernel ignores this call"), "{err}");
    assert!(
        out.contains("memblock_alloc(0x100, 0x10) = 0x00000000001fff00"),
        "{out}"
    );
    let (out, _, rc) = bootmm(&["script", "--bare", "--json"], script);
    assert_ne!(rc, 0);
    let errs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("error").is_some())
        .collect();
    assert_eq!(
        errs.iter()
            .map(|e| e["line"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(
        out.lines()
            .any(|l| l.contains("\"note\":\"memblock_phys_free(0x900000, 0x1000): nothing in")),
        "{out}"
    );
}

#[test]
fn impossible_allocation_is_null() {
    let (out, err, rc) = bootmm(&["script", "--bare"], "memblock_add(0x100000, 1M)\nmemblock_alloc(2G, 8)\nmemblock_alloc_try_nid(1M + 1, 8, 0, MEMBLOCK_ALLOC_ANYWHERE, 0)\nmemblock_alloc(0x10, 0x10)\n");
    assert_eq!(rc, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[1], "memblock_alloc(2G, 8) = NULL");
    assert_eq!(
        l[2],
        "memblock_alloc_try_nid(1M + 1, 8, 0, MEMBLOCK_ALLOC_ANYWHERE, 0) = NULL"
    );
    assert_eq!(l[3], "memblock_alloc(0x10, 0x10) = 0x00000000001ffff0");
}

#[test]
fn doubling_without_resize_is_a_clear_error() {
    let mut s = String::new();
    for i in 0..129 {
        s.push_str(&format!(
            "memblock_add({:#x}, 0x100)\n",
            0x10000 + i * 0x1000
        ));
    }
    let (_, err, rc) = bootmm(&["script", "--bare"], &s);
    assert_ne!(rc, 0);
    assert!(
        err.contains("line 129: memblock: cannot resize memory array"),
        "{err}"
    );
}

#[test]
fn page_allocator_calls_on_a_booted_machine() {
    let src = "p = alloc_pages(GFP_KERNEL | __GFP_ZERO, 2)\n\
               cat(\"/proc/buddyinfo\")\n\
               __free_pages(p, 2)\n\
               __free_pages(p, 2)\n\
               drain_all_pages()\n\
               __free_pages(p, 2)\n\
               a = get_zeroed_page(GFP_KERNEL)\n\
               free_pages(a, 0)\n\
               x = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 11)\n";
    let (out, err, rc) = bootmm(&["script", "--mem", "1G"], src);
    assert_eq!(rc, 1, "the double frees are error lines: {out}{err}");
    assert!(
        out.starts_with("p = alloc_pages(GFP_KERNEL | __GFP_ZERO, 2) = page:pfn 0x"),
        "{out}"
    );
    assert!(out.contains("\nNode 0, zone    DMA32 "), "{out}");
    assert!(
        out.contains("BUG: Bad page state in process bootmm-script  pfn:"),
        "{out}"
    );
    // The first double free finds the block on CPU 0's pcp list (refcount 0, no buddy
    // mark); once drained, the buddy lists hold it and the free-time checks see the mark.
    let vm_bug = out
        .find("page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)")
        .expect(&out);
    let mapcount = out
        .find("page dumped because: nonzero mapcount")
        .expect(&out);
    assert!(vm_bug < out.find("drain_all_pages()").unwrap());
    assert!(mapcount > out.find("drain_all_pages()").unwrap());
    assert!(
        out.contains("a = get_zeroed_page(GFP_KERNEL) = 0xffff888"),
        "{out}"
    );
    assert!(
        out.contains("x = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 11) = NULL"),
        "{out}"
    );
    assert!(err.contains("line 4: __free_pages("), "{err}");
    // JSON: a page is its physical address; cat's text is "output".
    let (out, _, _) = bootmm(&["script", "--mem", "1G", "--json"], src);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(first["ret"].as_u64().unwrap() % 4096 == 0);
    let cat: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert!(cat["output"]
        .as_str()
        .unwrap()
        .starts_with("Node 0, zone      DMA "));
}

/// `bootmm ARGS` with bytes on standard input: (stdout, stderr, exit code).
fn bootmm_bytes(args: &[&str], stdin: Vec<u8>) -> (String, String, i32) {
    let (rc, out, err) = common::bootmm_rc(args, &stdin);
    (out, err, rc)
}

/// Frees of orders with no free list, on a booted machine: the kernel's report and a
/// failed line, never a crash.
#[test]
fn free_of_an_impossible_order_is_reported_not_a_crash() {
    let script = "p = alloc_pages(GFP_KERNEL, 0)\n__free_pages(p, 64)\n__free_pages(p, 4294967295)\nv = __get_free_pages(GFP_KERNEL, 0)\nfree_pages(v, 64)\n__free_pages(p, 0)\n";
    let (out, err, rc) = bootmm(&["script", "--mem", "256M"], script);
    assert_eq!(rc, 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for line in [2, 3, 5] {
        assert!(
            err.contains(&format!("line {line}: ")) && err.contains("nothing was freed"),
            "{err}"
        );
    }
    assert_eq!(
        out.matches("page dumped because: VM_BUG_ON_PAGE(order > MAX_PAGE_ORDER)")
            .count(),
        3,
        "{out}"
    );
    assert!(
        !err.contains("line 6:"),
        "the page is still freeable: {err}"
    );
}

/// Hostile input: deep nesting, a line with no end, bytes that are not text.
#[test]
fn hostile_scripts_get_line_errors() {
    let deep = format!("x = {}1{}\n", "(".repeat(10_000), ")".repeat(10_000));
    let (_, err, rc) = bootmm(&["script", "--bare"], &deep);
    assert_eq!(rc, 1);
    assert!(
        err.contains("line 1: expression nested more than 256 levels deep"),
        "{err}"
    );
    let minus = format!("x = {}1\n", "-".repeat(20_000));
    let (_, err, rc) = bootmm(&["script", "--bare"], &minus);
    assert_eq!(rc, 1);
    assert!(err.contains("nested more than 256 levels"), "{err}");
    // /dev/zero in small: a "line" with no end is refused once it passes 64 KiB.
    let (_, err, rc) = bootmm_bytes(&["script", "--bare"], vec![0u8; 200 << 10]);
    assert_eq!(rc, 2);
    assert!(err.contains("line 1: longer than 64 KiB"), "{err}");
    let mut bytes = b"memblock_add(0x1000, 0x1000)\n".to_vec();
    bytes.extend_from_slice(b"memblock_add(\xff\xfe)\n");
    bytes.extend_from_slice(b"memblock_add(0x10000, 0x1000)\r\n");
    let (out, err, rc) = bootmm_bytes(&["script", "--bare"], bytes);
    assert_eq!(rc, 1);
    assert!(
        err.contains("line 2: not UTF-8 text (byte 0xff at column 14)"),
        "{err}"
    );
    assert!(out.contains("memblock_add(0x10000, 0x1000) = 0"), "{out}");
}

/// The interpreter answers each line as it comes: a reader feeding it one line sees the
/// answer before sending the next (the script is never read whole).
#[test]
fn scripts_stream_line_by_line() {
    use std::io::{BufRead, Write};
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bootmm"))
        .args(["script", "--bare"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            if tx.send(l.unwrap()).is_err() {
                break;
            }
        }
    });
    stdin.write_all(b"memblock_add(0x100000, 1M)\n").unwrap();
    stdin.flush().unwrap();
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the first answer arrives while the script is still open");
    assert_eq!(first, "memblock_add(0x100000, 1M) = 0");
    stdin.write_all(b"memblock_phys_mem_size()\n").unwrap();
    drop(stdin);
    let second = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    assert_eq!(second, "memblock_phys_mem_size() = 0x0000000000100000");
    assert!(child.wait().unwrap().success());
}

/// warn_alloc is rate limited as the kernel's `nopage_rs` is: ten reports per five seconds
/// of the model's clock, then the count of those suppressed.
#[test]
fn allocation_failure_reports_are_rate_limited() {
    let mut script = String::new();
    for _ in 0..40 {
        script.push_str("p = alloc_pages(GFP_KERNEL, 10)\n");
    }
    script.push_str("msleep(5004)\np = alloc_pages(GFP_KERNEL, 10)\n");
    let (out, err, rc) = bootmm(&["script", "--mem", "32M"], &script);
    assert_eq!(rc, 0, "{err}");
    let nulls = out.matches("= NULL").count();
    assert!(nulls > 20, "the machine runs out: {nulls} failures\n{out}");
    assert_eq!(out.matches("page allocation failure").count(), 11, "{out}");
    assert_eq!(out.matches("Mem-Info:").count(), 11);
    assert!(
        out.contains(&format!("warn_alloc: {} callbacks suppressed", nulls - 11)),
        "{out}"
    );
}

/// `cpu(N)`: a student watches CPU 1's pcp list fill while CPU 0's stays empty, and a CPU
/// past nr_cpu_ids is a clear error line.
#[test]
fn cpu_switches_whose_pcp_lists_a_script_uses() {
    let src = "drain_all_pages()\n\
               cpu(1)\n\
               smp_processor_id()\n\
               p = alloc_pages(GFP_KERNEL, 0)\n\
               cat(\"/proc/zoneinfo\")\n\
               cpu(2)\n";
    let (out, err, rc) = bootmm(&["script", "--mem", "1G", "--cpus", "2"], src);
    assert_eq!(rc, 1, "cpu(2) is an error line: {out}{err}");
    assert!(out.contains("smp_processor_id() = 1"), "{out}");
    // DMA32 serves GFP_KERNEL on a 1 GiB machine: its CPU 1 pageset holds the rest of the
    // refill batch, CPU 0's nothing.
    let dma32 = out.split("zone    DMA32").nth(1).expect(&out);
    let count = |cpu: u32| -> u64 {
        let at = dma32.find(&format!("cpu: {cpu}\n")).expect(dma32);
        let rest = &dma32[at..];
        let c = rest.find("count: ").unwrap() + "count: ".len();
        rest[c..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(count(0), 0, "{dma32}");
    assert!(count(1) > 0, "{dma32}");
    assert!(
        err.contains(
            "line 6: cpu(2): CPU 2 does not exist: this machine has nr_cpu_ids 2 (CPUs 0-1)"
        ),
        "{out}{err}"
    );
}
