//! Snapshots of whole `bootmm boot` transcripts: any change to what the model prints shows up
//! as a reviewed diff (`cargo insta review`, or `INSTA_UPDATE=always` to rewrite).

use assert_cmd::Command;

fn boot(args: &[&str]) -> String {
    let out = Command::cargo_bin("bootmm")
        .unwrap()
        .arg("boot")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn default_machine() {
    insta::assert_snapshot!(boot(&[]));
}

#[test]
fn default_machine_trace() {
    insta::assert_snapshot!(boot(&["--trace"]));
}

#[test]
fn two_node_machine() {
    insta::assert_snapshot!(boot(&["--mem", "4G", "--nodes", "2"]));
}

#[test]
fn kernel_4_4_with_memblock_debug() {
    insta::assert_snapshot!(boot(&[
        "--kernel",
        "4.4",
        "--mem",
        "2G",
        "--cmdline",
        "memblock=debug"
    ]));
}

#[test]
fn i386_pae_highmem_machine() {
    insta::assert_snapshot!(boot(&[
        "--i386",
        "pae",
        "--kernel",
        "3.8",
        "--mem",
        "4G",
        "--show",
        "buddyinfo,meminfo"
    ]));
}
