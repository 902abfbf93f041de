// SPDX-License-Identifier: GPL-2.0-only
//! Bad input, as docs/bad-input.md lists it: each kind gets a clear message and an honest
//! exit status, never a panic, an abort, or a run past the host-memory budget.

mod common;
use common::bootmm_rc;

/// Work past the host-memory budget is refused before it is done, saying what it needs.
#[test]
fn the_host_memory_budget_refuses_up_front() {
    // 64 GiB without deferred struct page init: 1 GiB of struct pages, all written at boot.
    let (rc, _, err) = bootmm_rc(
        &[
            "boot",
            "--kernel",
            "3.18",
            "--mem",
            "64G",
            "--host-mem",
            "256M",
        ],
        b"",
    );
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("initialising up to ")
            && err.contains("without deferred struct page init")
            && err.contains("over the host-memory budget of 256.0 MiB (--host-mem)"),
        "{err}"
    );
    // The same through the environment.
    let out = assert_cmd::Command::cargo_bin("bootmm")
        .unwrap()
        .args(["boot", "--kernel", "3.18", "--mem", "64G"])
        .env("BOOTMM_HOST_MEM", "256M")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(BOOTMM_HOST_MEM)"));
    let out = assert_cmd::Command::cargo_bin("bootmm")
        .unwrap()
        .args(["boot"])
        .env("BOOTMM_HOST_MEM", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BOOTMM_HOST_MEM=\"lots\""));
    // A bare machine's memset writes host memory: 32 GiB of it is refused.
    let (rc, _, err) = bootmm_rc(
        &["script", "--bare", "--host-mem", "1G"],
        b"memset(0x100000, 0xaa, 32G)\nmemset(0x100000, 0xaa, 4K)\n",
    );
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains(
            "line 1: memset of 32.0 GiB at 0x100000 would need 32.0 GiB more of host memory"
        ),
        "{err}"
    );
    assert!(!err.contains("line 2"), "{err}");
    // Growing deferred struct pages on demand stops at the budget with an error per line.
    let mut script = String::new();
    for _ in 0..2000 {
        script.push_str("p = alloc_pages(GFP_KERNEL, 10)\n");
    }
    let (rc, out, err) = bootmm_rc(
        &["script", "--mem", "64G", "--host-mem", "160M"],
        script.as_bytes(),
    );
    assert_eq!(rc, 1);
    assert!(
        err.contains("growing the zone's deferred struct pages: initialising 32768 deferred struct pages would need 2.0 MiB more of host memory"),
        "{err}"
    );
    assert!(
        out.matches("page:pfn").count() > 100,
        "allocations ran until the budget"
    );
}
