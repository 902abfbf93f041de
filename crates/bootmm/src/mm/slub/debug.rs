// SPDX-License-Identifier: GPL-2.0-only
//! mm/slub.c, CONFIG_SLUB_DEBUG: `slub_debug=` (F, Z, P, U, T), the debug object layout, the
//! consistency checks and SLUB's reports, and `validate_slab_cache`.
//!
//! DOC: a debug cache never uses the CPU freelist: every allocation and free takes the
//! node's `list_lock` and runs the checks (`alloc_debug_processing`,
//! `free_debug_processing`). Red zones (Z) are filled with 0xbb while an object is free and
//! 0xcc while it is allocated; poisoning (P) fills free objects with 0x6b ending in 0xa5 and
//! new slabs with 0x5a; U stores the alloc and free tracks after the object; F checks
//! pointers and counts. A corruption is reported as `BUG <cache> (<taint>): <what>` with
//! the slab and object dump, and fixed (`FIX <cache>: ...`), and the kernel carries on.
//! The form is 6.6's: `check_object` stops at the first failing check.
//!
//! A report's count is what slub_kunit's `slab_errors` counts: one for every report and one
//! for every fix. [`crate::mm::slab_common::SlabCommon::errors`] keeps it.

use alloc::string::String;
use core::fmt::Write as _;
use core::ptr;
use core::sync::atomic::Ordering;

use crate::include::gfp::Gfp;
use crate::kernel::Kernel;
use crate::mm::slab::{counters_inuse, counters_objects, make_counters, Slab, SlabFlags};

use super::alloc::{self as a, KmemCache, SlabHost, SlubMap};

/// `sizeof(struct track)` on x86_64 with CONFIG_STACKDEPOT: addr, handle, cpu, pid, when.
pub const TRACK_SIZE: u32 = 32;
/// `SLUB_RED_INACTIVE`.
pub const SLUB_RED_INACTIVE: u8 = 0xbb;
/// `SLUB_RED_ACTIVE`.
pub const SLUB_RED_ACTIVE: u8 = 0xcc;
/// `POISON_INUSE`.
pub const POISON_INUSE: u8 = 0x5a;
/// `POISON_FREE`.
pub const POISON_FREE: u8 = 0x6b;
/// `POISON_END`.
pub const POISON_END: u8 = 0xa5;

/// `DEBUG_DEFAULT_FLAGS`.
pub const DEBUG_DEFAULT_FLAGS: SlabFlags = SlabFlags::SLAB_CONSISTENCY_CHECKS
    .union(SlabFlags::SLAB_RED_ZONE)
    .union(SlabFlags::SLAB_POISON)
    .union(SlabFlags::SLAB_STORE_USER);

/// One `;`-separated block of `slub_debug=`: its flags and the caches it names (none: every
/// cache).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugBlock {
    pub flags: SlabFlags,
    pub slabs: alloc::vec::Vec<String>,
}

/// `slub_debug=` as `setup_slub_debug` parsed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlubDebug {
    /// `slub_debug`: the flags for caches no block names.
    pub global: SlabFlags,
    /// The blocks with cache lists.
    pub blocks: alloc::vec::Vec<DebugBlock>,
    /// Option letters that were not understood (the kernel says so and skips them).
    pub unknown: alloc::vec::Vec<char>,
}

/// `parse_slub_debug_flags`'s letters.
fn parse_flags(s: &str, unknown: &mut alloc::vec::Vec<char>) -> SlabFlags {
    let mut f = SlabFlags::empty();
    for c in s.chars() {
        match c.to_ascii_lowercase() {
            '-' => f = SlabFlags::empty(),
            'f' => f |= SlabFlags::SLAB_CONSISTENCY_CHECKS,
            'z' => f |= SlabFlags::SLAB_RED_ZONE,
            'p' => f |= SlabFlags::SLAB_POISON,
            'u' => f |= SlabFlags::SLAB_STORE_USER,
            't' => f |= SlabFlags::SLAB_TRACE,
            // A (failslab) and O (disable_higher_order_debug) change nothing bootmm models.
            'a' | 'o' => {}
            c => unknown.push(c),
        }
    }
    f
}

impl SlubDebug {
    /// mm/slub.c `setup_slub_debug`: `None` (the option absent or empty) is no debugging;
    /// `Some("")` (a bare `slub_debug`) is DEBUG_DEFAULT_FLAGS for every cache.
    pub fn parse(v: Option<&str>) -> SlubDebug {
        let mut d = SlubDebug::default();
        let Some(v) = v else { return d };
        if v.is_empty() {
            d.global = DEBUG_DEFAULT_FLAGS;
            return d;
        }
        for block in v.split(';').filter(|b| !b.is_empty()) {
            let (flags_part, list) = match block.find(',') {
                Some(i) => (&block[..i], Some(&block[i + 1..])),
                None => (block, None),
            };
            let flags = if flags_part.is_empty() && list.is_some() {
                DEBUG_DEFAULT_FLAGS
            } else {
                parse_flags(flags_part, &mut d.unknown)
            };
            match list {
                Some(l) => d.blocks.push(DebugBlock {
                    flags,
                    slabs: l
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                }),
                None => d.global = flags,
            }
        }
        d
    }

    /// mm/slub.c `kmem_cache_flags`: the debug flags cache `name` gets.
    pub fn kmem_cache_flags(&self, name: &str, flags: SlabFlags) -> SlabFlags {
        if flags.contains(SlabFlags::SLAB_NO_USER_FLAGS) {
            return flags;
        }
        let mut global = self.global;
        if flags.contains(SlabFlags::SLAB_NOLEAKTRACE) {
            global.remove(SlabFlags::SLAB_STORE_USER);
        }
        for b in &self.blocks {
            for pat in &b.slabs {
                let hit = match pat.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == pat,
                };
                if hit {
                    return flags | b.flags;
                }
            }
        }
        flags | global
    }

    /// Whether any cache can get debug flags.
    pub fn enabled(&self) -> bool {
        !self.global.is_empty() || self.blocks.iter().any(|b| !b.flags.is_empty())
    }
}

// ----- Bytes of an object ------------------------------------------------------------------

/// `memset` of simulated RAM at a kernel address; nothing when it is not simulated RAM.
fn fill(m: &SlubMap, va: u64, byte: u8, len: u64) {
    if len == 0 {
        return;
    }
    if let Some(p) = m.host(va, len) {
        // SAFETY: `host` proved the range is inside the live mapping.
        unsafe { ptr::write_bytes(p, byte, len as usize) };
    }
}

/// The bytes at a kernel address (empty when not simulated RAM).
fn bytes(m: &SlubMap, va: u64, len: u64) -> &[u8] {
    match m.host(va, len) {
        // SAFETY: `host` proved the range is inside the live mapping, which lives as long as
        // the kernel `m` belongs to.
        Some(p) => unsafe { core::slice::from_raw_parts(p, len as usize) },
        None => &[],
    }
}

/// `get_info_end`: where the tracks start.
fn get_info_end(s: &KmemCache) -> u32 {
    if s.offset >= s.inuse {
        s.inuse + 8
    } else {
        s.inuse
    }
}

/// `size_from_object`.
fn size_from_object(s: &KmemCache) -> u32 {
    if s.flags.contains(SlabFlags::SLAB_RED_ZONE) {
        s.size - s.red_left_pad
    } else {
        s.size
    }
}

/// `slub_debug_orig_size`.
fn slub_debug_orig_size(s: &KmemCache) -> bool {
    s.flags.contains(SlabFlags::SLAB_STORE_USER) && s.flags.contains(SlabFlags::SLAB_KMALLOC)
}

/// `get_orig_size`.
fn get_orig_size(m: &SlubMap, s: &KmemCache, object: u64) -> u32 {
    if !slub_debug_orig_size(s) {
        return s.object_size;
    }
    let at = object + u64::from(get_info_end(s) + 2 * TRACK_SIZE);
    let b = bytes(m, at, 4);
    if b.len() == 4 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    } else {
        s.object_size
    }
}

/// `set_orig_size`.
fn set_orig_size(m: &SlubMap, s: &KmemCache, object: u64, size: u32) {
    if !slub_debug_orig_size(s) {
        return;
    }
    let at = object + u64::from(get_info_end(s) + 2 * TRACK_SIZE);
    if let Some(p) = m.host(at, 4) {
        // SAFETY: `host` proved the 4 bytes are simulated RAM.
        unsafe { ptr::copy_nonoverlapping(size.to_le_bytes().as_ptr(), p, 4) };
    }
}

/// `slub_debug_orig_size` for krealloc.
pub(crate) fn has_orig_size(s: &KmemCache) -> bool {
    slub_debug_orig_size(s)
}

/// `get_orig_size` for krealloc.
pub(crate) fn orig_size(m: &SlubMap, s: &KmemCache, object: u64) -> u32 {
    get_orig_size(m, s, object)
}

/// `set_orig_size` for krealloc.
pub(crate) fn set_orig(m: &SlubMap, s: &KmemCache, object: u64, size: u32) {
    set_orig_size(m, s, object, size)
}

/// `init_object(s, object, val)`.
fn init_object(m: &SlubMap, s: &KmemCache, object: u64, val: u8) {
    let rz = s.flags.contains(SlabFlags::SLAB_RED_ZONE);
    if rz {
        fill(
            m,
            object - u64::from(s.red_left_pad),
            val,
            u64::from(s.red_left_pad),
        );
    }
    let poison_size = if slub_debug_orig_size(s) && val == SLUB_RED_ACTIVE {
        get_orig_size(m, s, object)
    } else {
        s.object_size
    };
    if s.flags.contains(SlabFlags::__OBJECT_POISON) {
        fill(
            m,
            object,
            POISON_FREE,
            u64::from(poison_size.saturating_sub(1)),
        );
        fill(
            m,
            object + u64::from(poison_size.saturating_sub(1)),
            POISON_END,
            1,
        );
    }
    if rz {
        fill(
            m,
            object + u64::from(poison_size),
            val,
            u64::from(s.inuse.saturating_sub(poison_size)),
        );
    }
}

/// `init_tracking`: both tracks zeroed.
fn init_tracking(m: &SlubMap, s: &KmemCache, object: u64) {
    if s.flags.contains(SlabFlags::SLAB_STORE_USER) {
        fill(
            m,
            object + u64::from(get_info_end(s)),
            0,
            u64::from(2 * TRACK_SIZE),
        );
    }
}

/// `setup_slab_debug`: a poisoned cache's new slab is filled with POISON_INUSE.
pub(crate) fn setup_slab_debug(m: &SlubMap, s: &KmemCache, start: u64, order: u32) {
    if s.flags.contains(SlabFlags::SLAB_POISON) {
        fill(m, start, POISON_INUSE, 4096u64 << order);
    }
}

/// `setup_object` → `setup_object_debug`.
pub(crate) fn setup_object(m: &SlubMap, s: &KmemCache, object: u64) {
    if s.flags.intersects(
        SlabFlags::SLAB_STORE_USER | SlabFlags::SLAB_RED_ZONE | SlabFlags::__OBJECT_POISON,
    ) {
        init_object(m, s, object, SLUB_RED_INACTIVE);
        init_tracking(m, s, object);
    }
}

/// The object `early_kmem_cache_node_alloc` takes: `init_object(ACTIVE)`, `init_tracking`.
pub(crate) fn init_object_active(m: &SlubMap, s: &KmemCache, object: u64) {
    if a::kmem_cache_debug(s) {
        init_object(m, s, object, SLUB_RED_ACTIVE);
        init_tracking(m, s, object);
    }
}

/// `set_track` (U): the caller (bootmm has no call sites: 0), CPU, pid 0, jiffies.
fn set_track(k: &Kernel, s: &KmemCache, object: u64, free: bool, cpu: u32) {
    if !s.flags.contains(SlabFlags::SLAB_STORE_USER) {
        return;
    }
    let at = object + u64::from(get_info_end(s)) + if free { u64::from(TRACK_SIZE) } else { 0 };
    if let Some(p) = k.slab.map.host(at, u64::from(TRACK_SIZE)) {
        let mut t = [0u8; TRACK_SIZE as usize];
        // addr: a non-zero stand-in for _RET_IP_, so the track prints.
        t[0..8].copy_from_slice(&1u64.to_le_bytes());
        t[12..16].copy_from_slice(&cpu.to_le_bytes());
        t[24..32].copy_from_slice(&k.jiffies.get().to_le_bytes());
        // SAFETY: `host` proved the track's bytes are simulated RAM.
        unsafe { ptr::copy_nonoverlapping(t.as_ptr(), p, t.len()) };
    }
}

// ----- Reports -----------------------------------------------------------------------------

/// `print_tainted()` as SLUB's banner shows it.
fn tainted(k: &Kernel) -> &'static str {
    if k.page_alloc().taint_bad_page.load(Ordering::Relaxed) {
        "Tainted: G    B            "
    } else {
        "Not tainted"
    }
}

/// `slab_bug`: the banner.
fn slab_bug(k: &Kernel, s: &KmemCache, what: &str) {
    let p = &k.printk;
    crate::pr_err!(
        p,
        "=============================================================================\n"
    );
    crate::pr_err!(p, "BUG {} ({}): {}\n", s.name(), tainted(k), what);
    crate::pr_err!(
        p,
        "-----------------------------------------------------------------------------\n\n"
    );
}

/// `slab_fix`: "FIX <cache>: <what>".
fn slab_fix(k: &Kernel, s: &KmemCache, what: &str) {
    k.slab.errors.fetch_add(1, Ordering::Relaxed);
    crate::pr_err!(k.printk, "FIX {}: {}\n", s.name(), what);
}

/// `print_slab_info`.
fn print_slab_info(k: &Kernel, slab: *mut Slab) {
    // SAFETY: a struct page of the memmap.
    let (fl, ct, flags) = unsafe {
        let (fl, ct) = a::slab_state(slab);
        (fl, ct, (*slab).__page_flags)
    };
    // SAFETY: a struct page of the memmap.
    let pfn = unsafe { slab_base(k, slab) }.wrapping_sub(k.phys.va(crate::PhysAddr(0)).0) >> 12;
    crate::pr_err!(
        k.printk,
        "Slab 0x{:016x} objects={} used={} fp=0x{:016x} flags={}\n",
        // The struct slab's address in the x86_64 vmemmap (VMEMMAP_START, no KASLR).
        0xffff_ea00_0000_0000u64 + pfn * crate::include::mm_types::STRUCT_PAGE_SIZE,
        counters_objects(ct),
        counters_inuse(ct),
        fl,
        crate::mm::page_alloc::debug::format_page_flags(flags)
    );
}

/// `slab_err`.
fn slab_err(k: &Kernel, s: &KmemCache, slab: *mut Slab, what: &str) {
    k.slab.errors.fetch_add(1, Ordering::Relaxed);
    slab_bug(k, s, what);
    print_slab_info(k, slab);
    crate::mm::page_alloc::debug::add_taint_bad_page(k);
}

/// `print_section`: `print_hex_dump(KERN_ERR, text, DUMP_PREFIX_ADDRESS, 16, 1, ...)`.
fn print_section(k: &Kernel, text: &str, va: u64, len: u64) {
    let b = bytes(&k.slab.map, va, len);
    for (i, row) in b.chunks(16).enumerate() {
        let mut line = String::new();
        let _ = write!(line, "{text}{:016x}: ", va + 16 * i as u64);
        let mut hex = String::new();
        for (j, x) in row.iter().enumerate() {
            if j > 0 {
                hex.push(' ');
            }
            let _ = write!(hex, "{x:02x}");
        }
        let _ = write!(line, "{hex:<49}");
        for &x in row {
            line.push(if (0x20..0x7f).contains(&x) {
                x as char
            } else {
                '.'
            });
        }
        crate::pr_err!(k.printk, "{}\n", line);
    }
}

/// `print_track` / `print_tracking`.
fn print_tracking(k: &Kernel, s: &KmemCache, object: u64) {
    if !s.flags.contains(SlabFlags::SLAB_STORE_USER) {
        return;
    }
    for (i, what) in ["Allocated", "Freed"].into_iter().enumerate() {
        let at = object + u64::from(get_info_end(s)) + (i as u64) * u64::from(TRACK_SIZE);
        let t = bytes(&k.slab.map, at, u64::from(TRACK_SIZE));
        if t.len() < TRACK_SIZE as usize {
            continue;
        }
        let word = |o: usize| u64::from_le_bytes(t[o..o + 8].try_into().unwrap_or([0; 8]));
        if word(0) == 0 {
            continue;
        }
        let cpu = u32::from_le_bytes(t[12..16].try_into().unwrap_or([0; 4]));
        let age = k.jiffies.get().wrapping_sub(word(24));
        crate::pr_err!(
            k.printk,
            "{} in bootmm+0x0/0x0 age={} cpu={} pid=0\n",
            what,
            age,
            cpu
        );
        crate::pr_err!(k.printk, "object allocation/free stack trace missing\n");
    }
}

/// `print_trailer`.
fn print_trailer(k: &Kernel, s: &KmemCache, slab: *mut Slab, object: u64) {
    let m = &k.slab.map;
    print_tracking(k, s, object);
    print_slab_info(k, slab);
    // SAFETY: `slab` is a struct page of the memmap.
    let base = unsafe { slab_base(k, slab) };
    crate::pr_err!(
        k.printk,
        "Object 0x{:016x} @offset={} fp=0x{:016x}\n\n",
        object,
        object - base,
        a::get_freepointer(m, s, object)
    );
    if s.flags.contains(SlabFlags::SLAB_RED_ZONE) {
        print_section(
            k,
            "Redzone  ",
            object - u64::from(s.red_left_pad),
            u64::from(s.red_left_pad),
        );
    } else if object > base + 16 {
        print_section(k, "Bytes b4 ", object - 16, 16);
    }
    print_section(k, "Object   ", object, u64::from(s.object_size.min(4096)));
    if s.flags.contains(SlabFlags::SLAB_RED_ZONE) {
        print_section(
            k,
            "Redzone  ",
            object + u64::from(s.object_size),
            u64::from(s.inuse - s.object_size),
        );
    }
    let mut off = get_info_end(s);
    if s.flags.contains(SlabFlags::SLAB_STORE_USER) {
        off += 2 * TRACK_SIZE;
        if slub_debug_orig_size(s) {
            off += 4;
        }
    }
    if off != size_from_object(s) {
        print_section(
            k,
            "Padding  ",
            object + u64::from(off),
            u64::from(size_from_object(s) - off),
        );
    }
}

/// `object_err`.
fn object_err(k: &Kernel, s: &KmemCache, slab: *mut Slab, object: u64, reason: &str) {
    k.slab.errors.fetch_add(1, Ordering::Relaxed);
    slab_bug(k, s, reason);
    print_trailer(k, s, slab, object);
    crate::mm::page_alloc::debug::add_taint_bad_page(k);
}

/// The slab's first byte (`slab_address`).
///
/// # Safety
/// `slab` is a struct page of the memmap.
unsafe fn slab_base(k: &Kernel, slab: *mut Slab) -> u64 {
    // SAFETY: forwarded.
    unsafe { k.slab.map.slab_address(k, slab) }
}

/// `check_bytes_and_report` (its arguments are the kernel's): true when `[start, start+len)` all hold `value`; else report
/// and restore.
#[allow(clippy::too_many_arguments)]
fn check_bytes_and_report(
    k: &Kernel,
    s: &KmemCache,
    slab: *mut Slab,
    object: u64,
    what: &str,
    start: u64,
    value: u8,
    len: u64,
) -> bool {
    let b = bytes(&k.slab.map, start, len);
    let Some(first) = b.iter().position(|&x| x != value) else {
        return true;
    };
    let mut end = b.len();
    while end > first && b[end - 1] == value {
        end -= 1;
    }
    let fault = start + first as u64;
    let last = start + end as u64 - 1;
    let found = b[first];
    // SAFETY: a struct page of the memmap.
    let base = unsafe { slab_base(k, slab) };
    k.slab.errors.fetch_add(1, Ordering::Relaxed);
    slab_bug(k, s, &alloc::format!("{what} overwritten"));
    crate::pr_err!(
        k.printk,
        "0x{:016x}-0x{:016x} @offset={}. First byte 0x{:x} instead of 0x{:x}\n",
        fault,
        last,
        fault - base,
        found,
        value
    );
    print_trailer(k, s, slab, object);
    crate::mm::page_alloc::debug::add_taint_bad_page(k);
    // restore_bytes.
    slab_fix(
        k,
        s,
        &alloc::format!("Restoring {what} 0x{fault:016x}-0x{last:016x}=0x{value:x}"),
    );
    fill(&k.slab.map, fault, value, last + 1 - fault);
    false
}

/// `check_valid_pointer`.
fn check_valid_pointer(k: &Kernel, s: &KmemCache, slab: *mut Slab, object: u64) -> bool {
    if object == 0 {
        return true;
    }
    // SAFETY: a struct page of the memmap.
    let (base, objects) = unsafe { (slab_base(k, slab), counters_objects(a::slab_state(slab).1)) };
    let object = object.wrapping_sub(u64::from(s.red_left_pad));
    object >= base
        && object < base + u64::from(objects) * u64::from(s.size)
        && (object - base) % u64::from(s.size) == 0
}

/// `check_object(s, slab, object, val)` (6.6: stops at the first failure).
fn check_object(k: &Kernel, s: &KmemCache, slab: *mut Slab, object: u64, val: u8) -> bool {
    let m = &k.slab.map;
    let rz = s.flags.contains(SlabFlags::SLAB_RED_ZONE);
    let endobject = object + u64::from(s.object_size);
    if rz {
        let l = u64::from(s.red_left_pad);
        if !check_bytes_and_report(k, s, slab, object, "Left Redzone", object - l, val, l) {
            return false;
        }
        if !check_bytes_and_report(
            k,
            s,
            slab,
            object,
            "Right Redzone",
            endobject,
            val,
            u64::from(s.inuse - s.object_size),
        ) {
            return false;
        }
        if slub_debug_orig_size(s) && val == SLUB_RED_ACTIVE {
            let orig = get_orig_size(m, s, object);
            if s.object_size > orig
                && !check_bytes_and_report(
                    k,
                    s,
                    slab,
                    object,
                    "kmalloc Redzone",
                    object + u64::from(orig),
                    val,
                    u64::from(s.object_size - orig),
                )
            {
                return false;
            }
        }
    } else if s.flags.contains(SlabFlags::SLAB_POISON) && s.object_size < s.inuse {
        check_bytes_and_report(
            k,
            s,
            slab,
            object,
            "Alignment padding",
            endobject,
            POISON_INUSE,
            u64::from(s.inuse - s.object_size),
        );
    }
    if s.flags.contains(SlabFlags::SLAB_POISON) {
        if val != SLUB_RED_ACTIVE && s.flags.contains(SlabFlags::__OBJECT_POISON) {
            let n = u64::from(s.object_size.saturating_sub(1));
            if !check_bytes_and_report(k, s, slab, object, "Poison", object, POISON_FREE, n)
                || !check_bytes_and_report(
                    k,
                    s,
                    slab,
                    object,
                    "End Poison",
                    object + n,
                    POISON_END,
                    1,
                )
            {
                return false;
            }
        }
        // check_pad_bytes.
        let mut off = get_info_end(s);
        if s.flags.contains(SlabFlags::SLAB_STORE_USER) {
            off += 2 * TRACK_SIZE + if slub_debug_orig_size(s) { 4 } else { 0 };
        }
        if off != size_from_object(s) {
            check_bytes_and_report(
                k,
                s,
                slab,
                object,
                "Object padding",
                object + u64::from(off),
                POISON_INUSE,
                u64::from(size_from_object(s) - off),
            );
        }
    }
    if s.offset < s.inuse && val == SLUB_RED_ACTIVE {
        return true;
    }
    let fp = a::get_freepointer(m, s, object);
    if !check_valid_pointer(k, s, slab, fp) {
        object_err(k, s, slab, object, "Freepointer corrupt");
        a::set_freepointer(m, s, object, 0);
        return false;
    }
    true
}

/// `check_slab`.
fn check_slab(k: &Kernel, s: &KmemCache, slab: *mut Slab) -> bool {
    // SAFETY: a struct page of the memmap.
    let (flags, ct) = unsafe { ((*slab).__page_flags, a::slab_state(slab).1) };
    if flags & crate::include::mm_types::PageFlags::PG_SLAB.bits() == 0 {
        slab_err(k, s, slab, "Not a valid slab page");
        return false;
    }
    let maxobj = super::order_objects(
        // SAFETY: as above.
        unsafe { crate::mm::page_alloc::compound_order(slab.cast()) },
        s.size,
    );
    if counters_objects(ct) > maxobj {
        slab_err(
            k,
            s,
            slab,
            &alloc::format!("objects {} > max {}", counters_objects(ct), maxobj),
        );
        return false;
    }
    if counters_inuse(ct) > counters_objects(ct) {
        slab_err(
            k,
            s,
            slab,
            &alloc::format!(
                "inuse {} > max {}",
                counters_inuse(ct),
                counters_objects(ct)
            ),
        );
        return false;
    }
    true
}

/// `on_freelist(s, slab, search)`: whether `search` is on the slab's freelist; with `search`
/// 0, checks the chain and the counts and fixes them.
fn on_freelist(k: &Kernel, s: &KmemCache, slab: *mut Slab, search: u64) -> bool {
    let m = &k.slab.map;
    // SAFETY: a struct page of the memmap; the caller holds the node's list_lock and the
    // slab is not a CPU slab (debug caches have none).
    let (mut fp, ct) = unsafe { a::slab_state(slab) };
    let objects = counters_objects(ct);
    let mut nr = 0u32;
    let mut object = 0u64;
    while fp != 0 && nr <= objects {
        if fp == search {
            return true;
        }
        if !check_valid_pointer(k, s, slab, fp) {
            if object != 0 {
                object_err(k, s, slab, object, "Freechain corrupt");
                a::set_freepointer(m, s, object, 0);
            } else {
                slab_err(k, s, slab, "Freepointer corrupt");
                // SAFETY: as above.
                unsafe { a::slab_set(slab, 0, make_counters(objects, objects, false)) };
                slab_fix(k, s, "Freelist cleared");
                return false;
            }
            break;
        }
        object = fp;
        fp = a::get_freepointer(m, s, object);
        nr += 1;
    }
    // SAFETY: as above.
    let (fl, ct) = unsafe { a::slab_state(slab) };
    let inuse = counters_inuse(ct);
    if inuse != objects - nr.min(objects) {
        slab_err(
            k,
            s,
            slab,
            &alloc::format!(
                "Wrong object count. Counter is {inuse} but counted were {}",
                objects - nr.min(objects)
            ),
        );
        // SAFETY: as above.
        unsafe {
            a::slab_set(
                slab,
                fl,
                make_counters(objects - nr.min(objects), objects, false),
            )
        };
        slab_fix(k, s, "Object count adjusted");
    }
    search == 0
}

// ----- Debug allocation and free -----------------------------------------------------------

/// `alloc_debug_processing` (with `alloc_consistency_checks`): false when the object is
/// bad (then the whole slab is marked used, as the kernel does).
fn alloc_debug_processing(
    k: &Kernel,
    s: &KmemCache,
    slab: *mut Slab,
    object: u64,
    orig_size: u32,
) -> bool {
    if s.flags.contains(SlabFlags::SLAB_CONSISTENCY_CHECKS) {
        let ok = check_slab(k, s, slab)
            && if !check_valid_pointer(k, s, slab, object) {
                object_err(k, s, slab, object, "Freelist Pointer check fails");
                false
            } else {
                check_object(k, s, slab, object, SLUB_RED_INACTIVE)
            };
        if !ok {
            slab_fix(k, s, "Marking all objects used");
            // SAFETY: the node's lock is held; a struct page of the memmap.
            unsafe {
                let (_, ct) = a::slab_state(slab);
                let o = counters_objects(ct);
                a::slab_set(slab, 0, make_counters(o, o, false));
            }
            return false;
        }
    }
    trace(k, s, slab, object, true);
    set_orig_size(&k.slab.map, s, object, orig_size);
    init_object(&k.slab.map, s, object, SLUB_RED_ACTIVE);
    true
}

/// `trace()` (T).
fn trace(k: &Kernel, s: &KmemCache, slab: *mut Slab, object: u64, alloc: bool) {
    if s.flags.contains(SlabFlags::SLAB_TRACE) {
        // SAFETY: a struct page of the memmap, under its node's lock.
        let (fl, ct) = unsafe { a::slab_state(slab) };
        crate::pr_info!(
            k.printk,
            "TRACE {} {} 0x{:016x} inuse={} fp=0x{:016x}\n",
            s.name(),
            if alloc { "alloc" } else { "free" },
            object,
            counters_inuse(ct),
            fl
        );
        if !alloc {
            print_section(k, "Object ", object, u64::from(s.object_size));
        }
    }
}

/// 6.6 `___slab_alloc` for debug caches: `alloc_single_from_partial` under the node's lock,
/// else `alloc_single_from_new_slab`.
///
/// # Errors
/// The page allocator could not be called.
///
/// # Safety
/// `s` is a live debug cache; the host's CPU is held.
pub(crate) unsafe fn alloc_debug<H: SlabHost>(
    h: &mut H,
    s: *mut KmemCache,
    gfp: Gfp,
    node: i32,
    orig_size: u32,
) -> Result<u64, crate::mm::page_alloc::AllocError> {
    // SAFETY: forwarded throughout.
    unsafe {
        let sr = &*s;
        let k = h.k();
        let cpu = h.cpu();
        let nid = if node < 0 {
            crate::mm::page_alloc::numa_mem_id(k, cpu)
        } else {
            node as u32
        };
        let mut nodes: alloc::vec::Vec<u32> = alloc::vec![nid];
        nodes.extend(a::any_partial_nodes(k, s, nid, node, gfp));
        for n_id in nodes {
            let n = a::get_node(s, n_id);
            if n.is_null() || (*n).nr_partial.load(Ordering::Relaxed) == 0 {
                continue;
            }
            (*n).list_lock.lock();
            for slab in partial_slabs_locked(n) {
                let (fl, ct) = a::slab_state(slab);
                if fl == 0 {
                    continue;
                }
                if !check_valid_pointer(k, sr, slab, fl) {
                    // A corrupted freelist head: the kernel's "Freelist Pointer check
                    // fails" fix marks the slab full; bootmm does so whatever the flags, as
                    // it writes into the object next.
                    object_err(k, sr, slab, fl, "Freelist Pointer check fails");
                    slab_fix(k, sr, "Marking all objects used");
                    let o = counters_objects(ct);
                    a::slab_set(slab, 0, make_counters(o, o, false));
                    a::remove_partial(k, n, slab);
                    continue;
                }
                let next = a::get_freepointer(&k.slab.map, sr, fl);
                a::slab_set(
                    slab,
                    next,
                    make_counters(counters_inuse(ct) + 1, counters_objects(ct), false),
                );
                if !alloc_debug_processing(k, sr, slab, fl, orig_size) {
                    a::remove_partial(k, n, slab);
                    continue;
                }
                let (_, ct2) = a::slab_state(slab);
                if counters_inuse(ct2) == counters_objects(ct2) {
                    a::remove_partial(k, n, slab);
                    add_full(sr, n, slab);
                }
                (*n).list_lock.unlock();
                set_track(k, sr, fl, false, cpu);
                return Ok(fl);
            }
            (*n).list_lock.unlock();
        }
        // alloc_single_from_new_slab.
        let Some(slab) = a::new_slab(h, s, gfp, node)? else {
            slab_out_of_memory(h.k(), cpu, sr, gfp, node);
            return Ok(0);
        };
        let k = h.k();
        let (fl, ct) = ((*slab).freelist, (*slab).counters);
        let objects = counters_objects(ct);
        let next = a::get_freepointer(&k.slab.map, sr, fl);
        (*slab).freelist = next;
        (*slab).counters = make_counters(1, objects, false);
        let nid = crate::include::mm_types::page_to_nid(&*slab.cast());
        let n = a::get_node(s, nid);
        if !alloc_debug_processing(k, sr, slab, fl, orig_size) {
            // The new slab is discarded by the kernel here; keep it, full, on no list.
            a::inc_slabs_node(s, nid, objects);
            return Ok(0);
        }
        (*n).list_lock.lock();
        if objects > 1 {
            a::__add_partial(k, n, slab, a::Tail::Head);
        } else {
            add_full(sr, n, slab);
        }
        a::inc_slabs_node(s, nid, objects);
        (*n).list_lock.unlock();
        set_track(k, sr, fl, false, cpu);
        Ok(fl)
    }
}

/// `add_full` (SLAB_STORE_USER only): a full debug slab onto the node's full list.
///
/// # Safety
/// The caller holds `n`'s list_lock; `slab` is on no list.
unsafe fn add_full(s: &KmemCache, n: *mut a::KmemCacheNode, slab: *mut Slab) {
    if s.flags.contains(SlabFlags::SLAB_STORE_USER) {
        // SAFETY: forwarded.
        unsafe {
            crate::include::mm_types::list_add(
                ptr::addr_of_mut!((*slab).slab_list),
                ptr::addr_of_mut!((*n).full),
            )
        };
    }
}

/// `remove_full` (SLAB_STORE_USER only).
///
/// # Safety
/// The caller holds the node's list_lock; with U, `slab` is on its full list.
unsafe fn remove_full(s: &KmemCache, slab: *mut Slab) {
    if s.flags.contains(SlabFlags::SLAB_STORE_USER) {
        // SAFETY: forwarded.
        unsafe { crate::include::mm_types::list_del(ptr::addr_of_mut!((*slab).slab_list)) };
    }
}

/// The partial slabs of a node whose lock the caller holds.
///
/// # Safety
/// The caller holds `n`'s list_lock.
unsafe fn partial_slabs_locked(n: *mut a::KmemCacheNode) -> alloc::vec::Vec<*mut Slab> {
    // SAFETY: forwarded.
    unsafe { a::slabs_on(ptr::addr_of_mut!((*n).partial)) }
}

/// The full slabs of a node whose lock the caller holds (debug caches with U).
///
/// # Safety
/// The caller holds `n`'s list_lock.
unsafe fn full_slabs_locked(n: *mut a::KmemCacheNode) -> alloc::vec::Vec<*mut Slab> {
    // SAFETY: forwarded.
    unsafe { a::slabs_on(ptr::addr_of_mut!((*n).full)) }
}

/// 6.6 `free_to_partial_list` with `free_debug_processing`: a debug cache's free, under the
/// node's lock, refused (and reported) when the checks fail.
///
/// # Safety
/// As [`super::alloc::do_slab_free`].
pub(crate) unsafe fn free_debug(
    k: &Kernel,
    cpu: u32,
    s: *mut KmemCache,
    slab: *mut Slab,
    object: u64,
) {
    // SAFETY: forwarded throughout.
    unsafe {
        let sr = &*s;
        let m = &k.slab.map;
        let nid = crate::include::mm_types::page_to_nid(&*slab.cast());
        let n = a::get_node(s, nid);
        (*n).list_lock.lock();
        let mut ok = true;
        if !sr.flags.contains(SlabFlags::SLAB_CONSISTENCY_CHECKS)
            && !check_valid_pointer(k, sr, slab, object)
        {
            // Without F the kernel would write the red zones and poison around a
            // misplaced pointer; bootmm refuses the free.
            slab_err(
                k,
                sr,
                slab,
                &alloc::format!("Invalid object pointer 0x{object:016x}"),
            );
            ok = false;
        } else if sr.flags.contains(SlabFlags::SLAB_CONSISTENCY_CHECKS) {
            ok = check_slab(k, sr, slab);
            if ok && !check_valid_pointer(k, sr, slab, object) {
                slab_err(
                    k,
                    sr,
                    slab,
                    &alloc::format!("Invalid object pointer 0x{object:016x}"),
                );
                ok = false;
            } else if ok && on_freelist(k, sr, slab, object) {
                object_err(k, sr, slab, object, "Object already free");
                ok = false;
            } else if ok && !check_object(k, sr, slab, object, SLUB_RED_ACTIVE) {
                ok = false;
            }
        }
        if !ok {
            slab_fix(
                k,
                sr,
                &alloc::format!("Object at 0x{object:016x} not freed"),
            );
            (*n).list_lock.unlock();
            return;
        }
        set_track(k, sr, object, true, cpu);
        trace(k, sr, slab, object, false);
        init_object(m, sr, object, SLUB_RED_INACTIVE);
        let (prior, ct) = a::slab_state(slab);
        a::set_freepointer(m, sr, object, prior);
        let objects = counters_objects(ct);
        let inuse = counters_inuse(ct).saturating_sub(1);
        a::slab_set(slab, object, make_counters(inuse, objects, false));
        let slab_free = inuse == 0 && (*n).nr_partial.load(Ordering::Relaxed) >= sr.min_partial;
        if prior == 0 {
            // It was full (on the full list with U, else on none): now partial, unless it
            // is freed.
            remove_full(sr, slab);
            if !slab_free {
                a::__add_partial(k, n, slab, a::Tail::Tail);
            }
        } else if slab_free {
            a::remove_partial(k, n, slab);
        }
        (*n).list_lock.unlock();
        if slab_free {
            a::discard_slab(k, cpu, s, slab);
        }
    }
}

/// The naive double-free check of CONFIG_SLAB_FREELIST_HARDENED's `set_freepointer`
/// (`BUG_ON(object == fp)`): the kernel oopses; bootmm reports and refuses the free.
pub(crate) fn naive_double_free(k: &Kernel, cpu: u32, s: &KmemCache, object: u64) {
    crate::pr_emerg!(k.printk, "kernel BUG at mm/slub.c!\n");
    crate::pr_emerg!(
        k.printk,
        "set_freepointer: object 0x{:016x} of {} is already the head of its freelist (naive detection of double free or corruption) on CPU {} ({})\n",
        object,
        s.name(),
        cpu,
        k.cpus.comm(cpu)
    );
    k.slab.errors.fetch_add(1, Ordering::Relaxed);
}

/// `slab_out_of_memory`: the report of a failed slab allocation (unless __GFP_NOWARN).
pub(crate) fn slab_out_of_memory(k: &Kernel, cpu: u32, s: &KmemCache, gfp: Gfp, node: i32) {
    let _ = cpu;
    if gfp.contains(Gfp::__GFP_NOWARN)
        || !k
            .slab
            .oom_rs
            .ratelimit(k.jiffies.get(), "slab_out_of_memory", &k.printk)
    {
        return;
    }
    let p = &k.printk;
    crate::pr_warn!(
        p,
        "SLUB: Unable to allocate memory on node {}, gfp={:#x}({})\n",
        node,
        crate::include::gfp::gfp_to_raw(&k.era, gfp),
        crate::include::gfp::format_gfp(&k.era, gfp)
    );
    crate::pr_warn!(
        p,
        "  cache: {}, object size: {}, buffer size: {}, default order: {}, min order: {}\n",
        s.name(),
        s.object_size,
        s.size,
        a::oo_order(s.oo),
        a::oo_order(s.min)
    );
    if a::oo_order(s.min) > super::get_order(u64::from(s.object_size)) {
        crate::pr_warn!(
            p,
            "  {} debugging increased min order, use slub_debug=O to disable.\n",
            s.name()
        );
    }
    // SAFETY: a live cache.
    for (nid, n) in unsafe { a::cache_nodes(k, s) } {
        // SAFETY: a node of a live cache.
        let (slabs, objs, free) = unsafe {
            (
                (*n).nr_slabs.load(Ordering::Relaxed),
                (*n).total_objects.load(Ordering::Relaxed),
                a::count_partial_free(n),
            )
        };
        crate::pr_warn!(
            p,
            "  node {}: slabs: {}, objs: {}, free: {}\n",
            nid,
            slabs,
            objs,
            free
        );
    }
}

/// `list_slab_objects`: the leak report of `__kmem_cache_shutdown`.
pub(crate) fn list_slab_objects(k: &Kernel, s: &KmemCache, slab: *mut Slab, text: &str) {
    slab_err(k, s, slab, &text.replace("%s", s.name()));
    // SAFETY: a slab of `s`.
    let free = unsafe { a::slab_free_set(k, s, slab, 0) };
    // SAFETY: as above.
    let base = unsafe { slab_base(k, slab) };
    // SAFETY: as above.
    for (i, obj) in unsafe { a::slab_object_addrs(k, s, slab) }.enumerate() {
        if !free.get(i).copied().unwrap_or(true) {
            // 6.12's list_slab_objects counts each leaked object as an error too.
            k.slab.errors.fetch_add(1, Ordering::Relaxed);
            crate::pr_err!(k.printk, "Object 0x{:016x} @offset={}\n", obj, obj - base);
            print_tracking(k, s, obj);
        }
    }
}

/// mm/slub.c `validate_slab_cache`: every slab of every node checked (`validate_slab`),
/// after flushing the CPU slabs. Returns the number of slabs checked.
///
/// # Safety
/// `s` is live and no CPU other than the caller's uses it.
pub(crate) unsafe fn validate_slab_cache(k: &Kernel, s: *mut KmemCache) -> u64 {
    let mut count = 0;
    // SAFETY: forwarded.
    unsafe {
        let sr = &*s;
        for (_, n) in a::cache_nodes(k, s).collect::<alloc::vec::Vec<_>>() {
            (*n).list_lock.lock();
            let mut slabs = partial_slabs_locked(n);
            if sr.flags.contains(SlabFlags::SLAB_STORE_USER) {
                slabs.extend(full_slabs_locked(n));
            }
            for &slab in &slabs {
                validate_slab(k, sr, slab);
                count += 1;
            }
            (*n).list_lock.unlock();
        }
    }
    count
}

/// `validate_slab`.
fn validate_slab(k: &Kernel, s: &KmemCache, slab: *mut Slab) {
    if !check_slab(k, s, slab) || !on_freelist(k, s, slab, 0) {
        return;
    }
    // SAFETY: a slab of `s` under its node's lock.
    let free = unsafe { a::slab_free_set(k, s, slab, 0) };
    // SAFETY: as above.
    for (i, obj) in unsafe { a::slab_object_addrs(k, s, slab) }.enumerate() {
        let val = if free.get(i).copied().unwrap_or(false) {
            SLUB_RED_INACTIVE
        } else {
            SLUB_RED_ACTIVE
        };
        if !check_object(k, s, slab, obj, val) {
            break;
        }
    }
}
