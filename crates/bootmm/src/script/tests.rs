// SPDX-License-Identifier: GPL-2.0-only
use super::*;
use crate::era::Era;

fn run(src: &str) -> Vec<Outcome> {
    let mut k = Kernel::bare(Era::default()).unwrap();
    run_script(&mut k, src)
}

fn call(o: &Outcome) -> &CallResult {
    match o {
        Outcome::Call(c) => c,
        Outcome::Error(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn calls_args_and_returns() {
    let out = run("memblock_add(0x100000, 32K); // comment\n\n# comment\np = memblock_alloc(0x800, 0x8)\nmemblock_overlaps_region(&memblock.reserved, p, 1)\nmemblock_alloc(SZ_1G, PAGE_SIZE)\nmemblock_phys_mem_size()\n");
    assert_eq!(out.len(), 5);
    assert_eq!(
        call(&out[0]).args,
        [Value::Int(0x100000), Value::Int(32768)]
    );
    assert_eq!(call(&out[0]).ret, Ret::Int(0));
    assert_eq!(call(&out[1]).ret, Ret::Addr(0x107800));
    assert_eq!(call(&out[1]).line, 4);
    assert_eq!(call(&out[2]).ret, Ret::Bool(true));
    assert_eq!(call(&out[3]).ret, Ret::Null);
    assert_eq!(call(&out[4]).ret, Ret::Addr(0x8000));
}

#[test]
fn expressions() {
    let out = run("x = 0x1000 + 2*SZ_4K - 1 | 0x10000\ny = -x\nz = ~0\nASSERT_EQ(z, MEMBLOCK_ALLOC_ANYWHERE)\nASSERT_EQ(memblock.reserved.regions[0].size, 0)\nASSERT_EQ(x, 0x12fff)\n");
    assert!(out.iter().all(|o| matches!(o, Outcome::Call(_))), "{out:?}");
}

#[test]
fn errors_carry_line_numbers_and_do_not_stop_the_run() {
    let out = run("frob(1)\nmemblock_add(1)\nmemblock_add(-1, 2)\nmemblock_set_bottom_up(memblock.memory)\nmemblock_add_node(0, 1, 0, 0x400)\nmemblock_add(0x1000, 0x1000\nmemblock_phys_free(0x1000, 0x10)\nmemblock_add(0x1000, 0x1000)\n");
    let errs: Vec<(usize, String)> = out
        .iter()
        .filter_map(|o| match o {
            Outcome::Error(e) => Some((e.line, e.message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        errs.iter().map(|e| e.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert!(errs[0].1.contains("unknown call `frob`"));
    assert!(errs[1].1.contains("takes 2 arguments"));
    assert!(errs[2].1.contains("between 0 and 2^64-1"));
    // Freeing what was never reserved: the kernel ignores it, so the line succeeds with a note.
    let Outcome::Call(c) = &out[6] else {
        panic!("{:?}", out[6]);
    };
    assert!(
        c.note
            .as_deref()
            .is_some_and(|n| n.contains("the kernel ignores this call")),
        "{c:?}"
    );
    assert!(matches!(out[7], Outcome::Call(_)));
}

/// Input that would crash or exhaust a naive interpreter gets a line error instead.
#[test]
fn hostile_lines_get_clear_errors() {
    let deep = alloc::format!("x = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let minus = alloc::format!("x = {}1", "-".repeat(20_000));
    let index = alloc::format!(
        "x = memblock.memory.regions[{}0{}].base",
        "(".repeat(300),
        ")".repeat(300)
    );
    let long = "v".repeat(MAX_NAME_LEN + 1);
    let src = alloc::format!(
        "{deep}\n{minus}\n{index}\nmemblock_add(0x1000,, 0x1000)\nmemblock_add(, 0x1000)\nx = -0x8000000000000000 * 0x8000000000000000 * 2\ny = -x\n{long} = 1\n"
    );
    let out = run(&src);
    let msg = |i: usize| match &out[i] {
        Outcome::Error(e) => e.message.clone(),
        o => panic!("line {}: {o:?}", i + 1),
    };
    assert!(msg(0).contains("nested more than 256 levels"), "{}", msg(0));
    assert!(msg(1).contains("nested more than 256 levels"), "{}", msg(1));
    assert!(msg(2).contains("nested more than 256 levels"), "{}", msg(2));
    assert_eq!(
        msg(3),
        "memblock_add: argument 2 (size) is empty (two commas in a row, or a comma at an end)"
    );
    assert!(msg(4).contains("argument 1 (base) is empty"), "{}", msg(4));
    assert!(matches!(out[5], Outcome::Call(_)), "i128::MIN is a value");
    assert_eq!(msg(6), "overflow");
    assert!(msg(7).contains("at most 256 bytes"), "{}", msg(7));
    // Nesting within the limit still works.
    let ok = alloc::format!(
        "x = {}7{}\nASSERT_EQ(x, 7)\n",
        "(".repeat(200),
        ")".repeat(200)
    );
    assert!(run(&ok).iter().all(|o| matches!(o, Outcome::Call(_))));
}

#[test]
fn dump_reports_both_arrays_and_log() {
    let out = run("memblock_add(0x100000, 0x1000)\nmemblock_dump_all()\n");
    let c = call(&out[1]);
    let d = c.dump.as_ref().unwrap();
    assert_eq!((d.memory.cnt, d.reserved.cnt, d.memory.max), (1, 0, 128));
    assert_eq!(c.log[0].text, "MEMBLOCK configuration:");
}

#[test]
fn settings_and_debug() {
    let out = run("memblock_debug = 1\nmemblock_add(0x100000, 0x1000)\nARCH_LOW_ADDRESS_LIMIT = 0x100800\np = memblock_alloc_low(0x100, 0x100)\nASSERT_EQ(p, 0x100700)\nPAGE_SIZE = 1\n");
    assert_eq!(
        call(&out[1]).log[0].text,
        "memblock_add: [0x0000000000100000-0x0000000000100fff]"
    );
    assert!(matches!(out[4], Outcome::Call(_)));
    assert!(matches!(&out[5], Outcome::Error(e) if e.message.contains("constant")));
}

/// slub_kunit's cases through the script interface, on a booted 6.6 kernel: each corruption
/// is caught by `validate` with the test's expected count of reports and fixes.
#[cfg(feature = "std")]
#[test]
fn slub_kunit_cases_through_scripts() {
    let mut m = crate::machine::Machine::qemu(128 << 20, 2).unwrap();
    m.era = Era::new(crate::era::KernelVersion::new(6, 6, 0), m.era.arch);
    let mut k = Kernel::new(m).unwrap();
    crate::init::main::start_kernel(&mut k).unwrap();
    let src = r#"
        c = kmem_cache_create("TestSlub_RZ_alloc", 64, 0, SLAB_RED_ZONE | SLAB_NO_USER_FLAGS)
        p = kmem_cache_alloc(c, GFP_KERNEL)
        poke(p + 64, 0x12)
        e = validate(c)
        ASSERT_EQ(e, 2)
        kmem_cache_free(c, p)
        c = kmem_cache_create("TestSlub_next_ptr_free", 64, 0, SLAB_POISON | SLAB_NO_USER_FLAGS)
        p = kmem_cache_alloc(c, GFP_KERNEL)
        kmem_cache_free(c, p)
        b = peek(p + 64)
        poke(p + 64, 255 - b)
        e = validate(c)
        ASSERT_EQ(e, 3)
        c2 = kmem_cache_create("TestSlub_1th_word_free", 64, 0, SLAB_POISON | SLAB_NO_USER_FLAGS)
        p = kmem_cache_alloc(c2, GFP_KERNEL)
        kmem_cache_free(c2, p)
        poke(p, 0x78)
        e = validate(c2)
        ASSERT_EQ(e, 2)
        c3 = kmem_cache_create("TestSlub_50th_word_free", 64, 0, SLAB_POISON | SLAB_NO_USER_FLAGS)
        p = kmem_cache_alloc(c3, GFP_KERNEL)
        kmem_cache_free(c3, p)
        poke(p + 50, 0x9a)
        e = validate(c3)
        ASSERT_EQ(e, 2)
        c4 = kmem_cache_create("TestSlub_RZ_free", 64, 0, SLAB_RED_ZONE | SLAB_NO_USER_FLAGS)
        p = kmem_cache_alloc(c4, GFP_KERNEL)
        kmem_cache_free(c4, p)
        poke(p + 64, 0xab)
        e = validate(c4)
        ASSERT_EQ(e, 2)
        c5 = kmem_cache_create("TestSlub_RZ_kmalloc", 32, 0, SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE | SLAB_NO_USER_FLAGS)
        p = kmalloc_trace(c5, GFP_KERNEL, 18)
        poke(p + 18, 0xab)
        poke(p + 19, 0xab)
        e = validate(c5)
        ASSERT_EQ(e, 2)
        c6 = kmem_cache_create("TestSlub_leak_destroy", 64, 0, SLAB_NO_MERGE | SLAB_NO_USER_FLAGS)
        p = kmem_cache_alloc(c6, GFP_KERNEL)
        kmem_cache_destroy(c6)
    "#;
    let out = run_script(&mut k, src);
    let mut errors = Vec::new();
    for o in &out {
        if let Outcome::Error(e) = o {
            errors.push(e.to_string());
        }
    }
    // Only the leak: kmem_cache_destroy keeps the cache and says so.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("objects remain"), "{errors:?}");
    let log: Vec<String> = out
        .iter()
        .flat_map(|o| match o {
            Outcome::Call(c) => c.log.as_slice(),
            Outcome::Error(e) => e.log.as_slice(),
        })
        .map(|l: &crate::printk::LogLine| l.text.clone())
        .collect();
    for want in [
        "BUG TestSlub_RZ_alloc (Not tainted): Right Redzone overwritten",
        "BUG TestSlub_next_ptr_free (Tainted: G    B            ): Freechain corrupt",
        "BUG TestSlub_1th_word_free (Tainted: G    B            ): Poison overwritten",
        "BUG TestSlub_RZ_kmalloc (Tainted: G    B            ): kmalloc Redzone overwritten",
        "BUG TestSlub_leak_destroy (Tainted: G    B            ): Objects remaining in TestSlub_leak_destroy on __kmem_cache_shutdown()",
    ] {
        assert!(log.iter().any(|l| l == want), "missing {want:?}");
    }
}

/// `walk` follows the kernel's tables: a kmalloc'd object's address lands on its physical
/// page through the direct map; the start of the vmalloc range, with nothing vmalloc'ed,
/// stops at the empty PUD entry under the PGD entry `preallocate_vmalloc_pages` filled.
#[cfg(feature = "std")]
#[test]
fn walk_follows_the_direct_map() {
    let mut k = Kernel::new(crate::machine::Machine::qemu(2 << 30, 1).unwrap()).unwrap();
    crate::init::main::start_kernel(&mut k).unwrap();
    let out = run_script(
        &mut k,
        "p = kmalloc(64, GFP_KERNEL)\nwalk(p)\nwalk(0xffffc90000000000)\n",
    );
    let Outcome::Call(alloc) = &out[0] else {
        panic!("{:?}", out[0])
    };
    let Ret::Addr(p) = alloc.ret else { panic!() };
    let Outcome::Call(w) = &out[1] else { panic!() };
    assert_eq!(w.ret, Ret::Addr(p - k.phys.va(crate::PhysAddr(0)).0));
    assert!(
        w.output
            .as_deref()
            .unwrap()
            .contains("(pmd 2M, entry 0x8000000"),
        "{:?}",
        w.output
    );
    let Outcome::Call(none) = &out[2] else {
        panic!()
    };
    assert_eq!(none.ret, Ret::Null);
    assert!(none
        .output
        .as_deref()
        .unwrap()
        .ends_with("not mapped (pud entry 0x0000000000000000)\n"));
}

/// A script cannot corrupt what bootmm links with host pointers: a write into the memmap
/// or a percpu unit, or a kfree of a cache's own struct kmem_cache, is an error line and
/// changes nothing; the kernel goes on allocating.
#[cfg(feature = "std")]
#[test]
fn writes_into_bootmms_own_structures_are_refused() {
    let mut k = Kernel::new(crate::machine::Machine::qemu(256 << 20, 2).unwrap()).unwrap();
    crate::init::main::start_kernel(&mut k).unwrap();
    let po = k.phys.va(crate::PhysAddr(0)).0;
    let nr = k.sparse.next_present_section_nr(None).unwrap();
    let memmap = k
        .sparse
        .host_to_phys(k.sparse.section_memmap(nr).unwrap())
        .unwrap();
    let unit = k.percpu.unit_pa[1];
    let src = alloc::format!(
        "poke({:#x}, 0xff)\nmemset({:#x}, 0, 4096)\nmemset({:#x}, 0, 64)\nc = kmem_cache_create(\"mine\", 32, 0, 0)\nkfree(c)\np = kmalloc(32, GFP_KERNEL)\npoke(p, 7)\nkfree(p)\n",
        po + memmap + 64 * 5,
        memmap,
        po + unit
    );
    let out = run_script(&mut k, &src);
    let errors: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            Outcome::Error(e) => Some(e.message.clone()),
            Outcome::Call(_) => None,
        })
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].contains("struct pages"), "{errors:?}");
    assert!(errors[1].contains("struct pages"), "{errors:?}");
    assert!(errors[2].contains("percpu unit"), "{errors:?}");
    assert!(errors[3].contains("struct kmem_cache"), "{errors:?}");
    // The caches' per-CPU areas are the kernel's: free_percpu refuses them.
    let c = k.slab.cache_named("mine").unwrap();
    // SAFETY: a live cache.
    let off = unsafe { c.get() }.cpu_slab;
    let p = crate::mm::percpu::PcpuPtr::from_value(off, k.percpu.unit_size()).unwrap();
    assert!(matches!(
        crate::mm::percpu::free_percpu(&k, Some(p)),
        Err(crate::mm::percpu::PcpuFreeError::KernelOwned(_))
    ));
}

/// The vmalloc calls from a script: an area mapped page by page, bytes written through its
/// address landing in the page `walk` names, `/proc/vmallocinfo`, vm_map_ram and vmap of
/// allocated pages, and the kernel's answers to a double vfree and a double vm_unmap_ram.
#[cfg(feature = "std")]
#[test]
fn vmalloc_calls_through_scripts() {
    let mut k = Kernel::new(crate::machine::Machine::qemu(1 << 30, 1).unwrap()).unwrap();
    crate::init::main::start_kernel(&mut k).unwrap();
    let out = run_script(
        &mut k,
        "p = vmalloc(20000)\npoke(p + 4097, 0x5a)\nw = walk(p + 4096)\ncat(\"/proc/vmallocinfo\")\nvfree(p)\nvfree(p)\npg = alloc_pages(GFP_KERNEL, 1)\nm = vm_map_ram(pg, 2)\nwalk(m + 4096)\nvm_unmap_ram(m, 2)\nvm_unmap_ram(m, 2)\n",
    );
    let call = |i: usize| match &out[i] {
        Outcome::Call(c) => c.clone(),
        Outcome::Error(e) => panic!("line {}: {}", e.line, e.message),
    };
    let Ret::Addr(p) = call(0).ret else {
        panic!("{:?}", out[0])
    };
    assert_eq!(p, crate::arch::x86::pgtable_64_types::VMALLOC_START);
    let Ret::Addr(pa) = call(2).ret else {
        panic!("{:?}", out[2])
    };
    let byte = k.phys.host_ptr(crate::PhysAddr(pa + 1), 1).unwrap();
    // SAFETY: a byte of simulated RAM.
    assert_eq!(unsafe { *byte.as_ptr() }, 0x5a);
    assert!(call(3).output.unwrap().contains(
        "0xffffc90000000000-0xffffc90000006000   24576 bootmm_script pages=5 vmalloc N0=5\n"
    ));
    assert_eq!(call(4).ret, Ret::Void);
    let Outcome::Error(e) = &out[5] else {
        panic!("{:?}", out[5])
    };
    assert!(
        e.message
            .contains("Trying to vfree() nonexistent vm area (0xffffc90000000000)"),
        "{}",
        e.message
    );
    let Ret::Page(pg) = call(6).ret else { panic!() };
    let Ret::Addr(m) = call(7).ret else {
        panic!("{:?}", out[7])
    };
    assert_eq!(call(8).ret, Ret::Addr(pg + 4096));
    assert_eq!(call(9).ret, Ret::Void);
    let Outcome::Error(e) = &out[10] else {
        panic!("{:?}", out[10])
    };
    assert!(
        e.message.contains("kernel BUG at mm/vmalloc.c: vb_free"),
        "{}",
        e.message
    );
    assert_eq!(crate::arch::x86::set_memory::lookup_address(&k, m).pa, None);
}
