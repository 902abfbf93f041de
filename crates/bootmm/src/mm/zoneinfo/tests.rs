use super::*;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

fn corpus_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(
        d.is_dir(),
        "the shared corpus is missing: expected {} (zoneinfo/ and host/ files)",
        d.display()
    );
    d
}

/// The release a corpus header names (`# kernel: 4.18.0-80…`), if it names one.
fn header_kernel(text: &str) -> Option<KernelVersion> {
    let l = text.lines().find(|l| l.starts_with("# kernel:"))?;
    KernelVersion::parse(l.trim_start_matches("# kernel:"))
}

fn corpus_files() -> Vec<(String, String)> {
    let d = corpus_dir();
    let mut v = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(d.join("zoneinfo"))
        .expect("read corpus/zoneinfo")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    names.push(d.join("host/zoneinfo.txt"));
    for p in names {
        let t = std::fs::read_to_string(&p).unwrap();
        v.push((p.file_name().unwrap().to_string_lossy().into_owned(), t));
    }
    v
}

/// Files whose numbers no single managed snapshot reproduces, with the reason (see
/// docs/divergences.md). Everything else must be exact or explained.
const UNEXPLAINED: &[(&str, &str)] = &[];

#[test]
fn corpus_zoneinfo_watermarks_and_protection() {
    let mut failures = Vec::new();
    for (name, text) in corpus_files() {
        let f = ZoneinfoFile::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = ZoneinfoCheckParams {
            kernel: header_kernel(&text),
            ..ZoneinfoCheckParams::default()
        };
        let r = check_zoneinfo(&f, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
        std::println!("== {name}\n{}", r.render(false));
        let allowed = UNEXPLAINED.iter().any(|(n, _)| *n == name);
        if !r.ok() && !allowed {
            failures.push(name.clone());
        }
        if r.ok() && allowed {
            failures.push(std::format!(
                "{name} (listed as unexplained but now reproduces)"
            ));
        }
    }
    assert!(failures.is_empty(), "not reproduced: {failures:?}");
}

#[test]
fn parse_rejects_garbage() {
    assert_eq!(ZoneinfoFile::parse("hello\n"), Err(ZoneinfoError::NoZones));
    assert!(matches!(
        ZoneinfoFile::parse("Node 0, zone Foo\n"),
        Err(ZoneinfoError::UnknownZone(_))
    ));
    assert!(matches!(
        ZoneinfoFile::parse("Node x, zone DMA\n"),
        Err(ZoneinfoError::BadLine { .. })
    ));
}

#[test]
fn layout_features_bound_the_era() {
    let t = "Node 0, zone      DMA\n  pages free     1\n        boost    0\n        min      1\n        low      1\n        high     1\n        promo    1\n        spanned  1\n        present  1\n        managed  1\n        protection: (0, 0)\n";
    let f = ZoneinfoFile::parse(t).unwrap();
    // 6.12 before and after the 6.12.19 revert of the empty-zone protection rule.
    assert_eq!(
        f.infer_eras().1,
        [KernelVersion::new(6, 12, 19), KernelVersion::new(6, 12, 0)]
    );
}
