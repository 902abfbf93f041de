// SPDX-License-Identifier: GPL-2.0-only
//! The 3.18 call chains that the seed note traced by stepping a debug kernel in gdb, read
//! from `bootmm boot --kernel 3.18 --trace`: each chain's functions in the note's order, each
//! in its 3.18 source file.

mod common;
use common::bootmm_rc;

/// One line of the call tree: nesting depth, function, file.
fn parse(tree: &str) -> Vec<(usize, String, String)> {
    tree.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let rest = t.strip_prefix("- ")?;
            let mut w = rest.split_whitespace();
            let (f, file) = (w.next()?, w.next()?);
            Some(((l.len() - t.len()) / 2, f.to_string(), file.to_string()))
        })
        .collect()
}

/// A function and its source file.
type Func<'a> = (&'a str, &'a str);
/// A chain: its first function and the steps after it.
type Chain<'a> = (Func<'a>, &'a [(Rel, &'a str, &'a str)]);

/// How a chain's next step relates to the step before it.
#[derive(Clone, Copy)]
enum Rel {
    /// Called by it.
    Calls,
    /// Called after it by the same caller.
    Then,
}

/// Whether some occurrence of `root` has the chain below it: every `(Rel, func, file)` in
/// turn, each a child of the step before (`Calls`) or a later sibling of it (`Then`).
fn has_chain(tree: &[(usize, String, String)], root: Func, steps: &[(Rel, &str, &str)]) -> bool {
    let at = |i: usize, f: &str, file: &str| tree[i].1 == f && tree[i].2 == file;
    'roots: for r in 0..tree.len() {
        if !at(r, root.0, root.1) {
            continue;
        }
        let mut cur = r;
        for &(rel, f, file) in steps {
            let d = tree[cur].0;
            let want = match rel {
                Rel::Calls => d + 1,
                Rel::Then => d,
            };
            let next = (cur + 1..tree.len())
                .take_while(|&i| match rel {
                    Rel::Calls => tree[i].0 > d,
                    Rel::Then => tree[i].0 >= d,
                })
                .find(|&i| tree[i].0 == want && at(i, f, file));
            match next {
                Some(i) => cur = i,
                None => continue 'roots,
            }
        }
        return true;
    }
    false
}

#[test]
fn the_3_18_trace_has_the_seed_notes_chains() {
    let (rc, out, err) = bootmm_rc(&["boot", "--kernel", "3.18", "--cpus", "2", "--trace"], b"");
    assert_eq!(rc, 0, "{err}");
    let tree = parse(&out);
    assert!(tree.len() > 100, "a call tree was printed");
    use Rel::{Calls, Then};
    let chains: &[Chain] = &[
        (
            ("free_all_bootmem", "mm/nobootmem.c"),
            &[
                (Calls, "free_low_memory_core_early", "mm/nobootmem.c"),
                (Calls, "__free_memory_core", "mm/nobootmem.c"),
                (Calls, "__free_pages_memory", "mm/nobootmem.c"),
                (Calls, "__free_pages_bootmem", "mm/page_alloc.c"),
                (Calls, "__free_pages", "mm/page_alloc.c"),
            ],
        ),
        (
            ("free_area_init_core", "mm/page_alloc.c"),
            &[(Calls, "zone_pcp_init", "mm/page_alloc.c")],
        ),
        (
            ("setup_per_cpu_pageset", "mm/page_alloc.c"),
            &[
                (Calls, "setup_zone_pageset", "mm/page_alloc.c"),
                (Calls, "zone_pageset_init", "mm/page_alloc.c"),
                (Calls, "pageset_init", "mm/page_alloc.c"),
                (Then, "pageset_set_high_and_batch", "mm/page_alloc.c"),
                (Calls, "pageset_set_batch", "mm/page_alloc.c"),
            ],
        ),
        (
            ("setup_per_cpu_areas", "arch/x86/kernel/setup_percpu.c"),
            &[
                (Calls, "pcpu_embed_first_chunk", "mm/percpu.c"),
                (Calls, "pcpu_fc_free", "arch/x86/kernel/setup_percpu.c"),
                (Calls, "free_bootmem", "mm/nobootmem.c"),
                (Calls, "memblock_free", "mm/memblock.c"),
            ],
        ),
        (
            ("build_all_zonelists", "mm/page_alloc.c"),
            &[
                (Calls, "__build_all_zonelists", "mm/page_alloc.c"),
                (Calls, "build_zonelists", "mm/page_alloc.c"),
                (Then, "build_zonelist_cache", "mm/page_alloc.c"),
                (Then, "setup_pageset", "mm/page_alloc.c"),
                (Calls, "pageset_init", "mm/page_alloc.c"),
                (Then, "pageset_set_batch", "mm/page_alloc.c"),
            ],
        ),
        (
            ("mm_init", "init/main.c"),
            &[
                (Calls, "mem_init", "arch/x86/mm/init_64.c"),
                (Calls, "free_all_bootmem", "mm/nobootmem.c"),
            ],
        ),
        (
            ("mm_init", "init/main.c"),
            &[
                (Calls, "kmem_cache_init", "mm/slub.c"),
                (Calls, "create_boot_cache", "mm/slab_common.c"),
            ],
        ),
        (
            ("mm_init", "init/main.c"),
            &[
                (Calls, "kmem_cache_init", "mm/slub.c"),
                (Then, "vmalloc_init", "mm/vmalloc.c"),
            ],
        ),
    ];
    for (root, steps) in chains {
        assert!(
            has_chain(&tree, *root, steps),
            "chain from {root:?} missing: {:?}",
            steps.iter().map(|s| s.1).collect::<Vec<_>>()
        );
    }
    // The chains run in boot order: zones, percpu, zonelists, the hand-over, SLUB, vmalloc,
    // the zone pagesets.
    let first = |f: &str| {
        tree.iter()
            .position(|t| t.1 == f)
            .unwrap_or_else(|| panic!("{f}"))
    };
    let order = [
        "zone_pcp_init",
        "setup_per_cpu_areas",
        "__build_all_zonelists",
        "free_all_bootmem",
        "kmem_cache_init",
        "vmalloc_init",
        "setup_per_cpu_pageset",
    ];
    for w in order.windows(2) {
        assert!(first(w[0]) < first(w[1]), "{} before {}", w[0], w[1]);
    }
}

#[test]
fn later_eras_name_their_own_files() {
    // 4.20 removed nobootmem: the hand-over is memblock_free_all in mm/memblock.c, and no
    // free_bootmem sits under pcpu_fc_free; 5.17 moved pcpu_fc_free into mm/percpu.c (5.16
    // renamed memblock_free to memblock_phys_free).
    let (rc, out, err) = bootmm_rc(&["boot", "--kernel", "6.6", "--trace"], b"");
    assert_eq!(rc, 0, "{err}");
    let tree = parse(&out);
    assert!(has_chain(
        &tree,
        ("memblock_free_all", "mm/memblock.c"),
        &[(Rel::Calls, "free_low_memory_core_early", "mm/memblock.c")]
    ));
    assert!(has_chain(
        &tree,
        ("pcpu_fc_free", "mm/percpu.c"),
        &[(Rel::Calls, "memblock_phys_free", "mm/memblock.c")]
    ));
    assert!(!tree
        .iter()
        .any(|t| t.1 == "free_bootmem" || t.1 == "build_zonelist_cache"));
}
