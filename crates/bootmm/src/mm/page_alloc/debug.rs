// SPDX-License-Identifier: GPL-2.0-only
//! `mm/page_alloc.c` `bad_page`, `free_pages_prepare`'s checks and `mm/debug.c` `dump_page`:
//! what the kernel prints when a page in the wrong state is freed.
//!
//! The kernel checks every page it frees (`page_expected_state`) and reports a bad one
//! with "BUG: Bad page state", the page's fields and a reason, then carries on without
//! freeing it. bootmm prints the same report; unlike the kernel it also leaves the page as it
//! was (the kernel drops the reference and clears PageBuddy), so that the allocator state
//! stays intact and the caller can go on.

use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{compound_order, PageHead, PageTail, Zone, TAIL_MAPPING};
use crate::include::mm_types::{
    Page, PageBuddy, PageFlags, NODES_MASK, NODES_PGOFF, NR_PAGEFLAGS, SECTIONS_MASK,
    SECTIONS_PGOFF, ZONES_MASK, ZONES_PGOFF,
};
use crate::kernel::Kernel;
use crate::mm::sparse::VMEMMAP_START;

/// `bad_page`'s rate limit state (its function-static `resume`, `nr_shown`, `nr_unshown`):
/// a burst of 60 reports, then quiet until a minute after the first of them.
#[derive(Default)]
pub(crate) struct BadPageState {
    nr_shown: AtomicU64,
    nr_unshown: AtomicU64,
    resume: AtomicU64,
}

/// `PAGE_FLAGS_CHECK_AT_FREE`.
pub const PAGE_FLAGS_CHECK_AT_FREE: PageFlags = PageFlags::PG_LRU
    .union(PageFlags::PG_LOCKED)
    .union(PageFlags::PG_PRIVATE)
    .union(PageFlags::PG_PRIVATE_2)
    .union(PageFlags::PG_WRITEBACK)
    .union(PageFlags::PG_RESERVED)
    .union(PageFlags::PG_SLAB)
    .union(PageFlags::PG_ACTIVE)
    .union(PageFlags::PG_UNEVICTABLE)
    .union(PageFlags::PG_MLOCKED);

/// `__def_pageflag_names` (include/trace/events/mmflags.h), in its order.
const PAGEFLAG_NAMES: &[(PageFlags, &str)] = &[
    (PageFlags::PG_LOCKED, "locked"),
    (PageFlags::PG_WAITERS, "waiters"),
    (PageFlags::PG_ERROR, "error"),
    (PageFlags::PG_REFERENCED, "referenced"),
    (PageFlags::PG_UPTODATE, "uptodate"),
    (PageFlags::PG_DIRTY, "dirty"),
    (PageFlags::PG_LRU, "lru"),
    (PageFlags::PG_ACTIVE, "active"),
    (PageFlags::PG_WORKINGSET, "workingset"),
    (PageFlags::PG_SLAB, "slab"),
    (PageFlags::PG_OWNER_PRIV_1, "owner_priv_1"),
    (PageFlags::PG_ARCH_1, "arch_1"),
    (PageFlags::PG_RESERVED, "reserved"),
    (PageFlags::PG_PRIVATE, "private"),
    (PageFlags::PG_PRIVATE_2, "private_2"),
    (PageFlags::PG_WRITEBACK, "writeback"),
    (PageFlags::PG_HEAD, "head"),
    (PageFlags::PG_MAPPEDTODISK, "mappedtodisk"),
    (PageFlags::PG_RECLAIM, "reclaim"),
    (PageFlags::PG_SWAPBACKED, "swapbacked"),
    (PageFlags::PG_UNEVICTABLE, "unevictable"),
    (PageFlags::PG_MLOCKED, "mlocked"),
    (PageFlags::PG_HWPOISON, "hwpoison"),
];

/// lib/vsprintf.c `format_flags` over the page flag names: set names joined by `|`, then
/// any unnamed rest as `%#lx`.
pub(crate) fn page_flag_names(flags: u64) -> String {
    let mut out = String::new();
    let mut left = flags & ((1 << NR_PAGEFLAGS) - 1);
    for (f, name) in PAGEFLAG_NAMES {
        if left & f.bits() == 0 {
            continue;
        }
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(name);
        left &= !f.bits();
    }
    if left != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "{left:#x}");
    }
    out
}

/// `%pGp` of 5.14+: the value, then the names and the fields packed into `flags` (bootmm's
/// layout keeps the section number there, see `docs/divergences.md`).
pub(crate) fn format_page_flags(flags: u64) -> String {
    let mut s = alloc::format!("{flags:#x}(");
    let names = page_flag_names(flags);
    s.push_str(&names);
    if !names.is_empty() {
        s.push('|');
    }
    let _ = write!(
        s,
        "section={}|node={}|zone={})",
        (flags >> SECTIONS_PGOFF) & SECTIONS_MASK,
        (flags >> NODES_PGOFF) & NODES_MASK,
        (flags >> ZONES_PGOFF) & ZONES_MASK
    );
    s
}

/// mm/page_alloc.c: `page_expected_state`: what a page being freed must look like, tested
/// as the kernel tests it, with one comparison over the OR of the fields that must be zero.
#[inline]
fn page_expected_state(page: &Page, check_flags: u64) -> bool {
    page.mapcount == -1
        && (page.mapping | page.refcount as u32 as u64 | (page.flags & check_flags)) == 0
}

/// `page_bad_reason` (`free_pages_check_bad` / `free_pages_check` before): the last check
/// that fails names the problem.
fn page_bad_reason(k: &Kernel, page: &Page) -> Option<&'static str> {
    let mut r = None;
    if page.mapcount != -1 {
        r = Some("nonzero mapcount");
    }
    if page.mapping != 0 {
        r = Some("non-NULL mapping");
    }
    if page.refcount != 0 {
        r = Some(if k.era.at_least(4, 6) {
            "nonzero _refcount"
        } else {
            "nonzero _count"
        });
    }
    if page.flags & PAGE_FLAGS_CHECK_AT_FREE.bits() != 0 {
        r = Some("PAGE_FLAGS_CHECK_AT_FREE flag(s) set");
    }
    r
}

/// 4.15+: `%p` hashes the pointer it prints, and before the hash key is ready (all of
/// early boot) prints the placeholder `(____ptrval____)` (believed "printk: hash addresses
/// printed with %p").
fn ptr_hashed(k: &Kernel) -> bool {
    k.era.at_least(4, 15)
}

/// `%p` of a struct page: the vmemmap address before 4.15, the unhashed-at-boot
/// placeholder after (`(____ptrval____)`).
fn page_ptr(k: &Kernel, pfn: u64) -> String {
    if ptr_hashed(k) {
        String::from("(____ptrval____)")
    } else {
        alloc::format!("{:x}", VMEMMAP_START + pfn * 64)
    }
}

/// `%p` of `page->mapping`.
fn mapping_ptr(k: &Kernel, m: u64) -> String {
    match (m, k.era.at_least(5, 0)) {
        (0, false) => String::from("          (null)"),
        (0, true) => String::from("0000000000000000"),
        (_, _) if ptr_hashed(k) => String::from("(____ptrval____)"),
        (v, _) => alloc::format!("{v:x}"),
    }
}

/// mm/debug.c: `dump_page` (`__dump_page`): the page's fields in the era's format, then
/// `page dumped because: <reason>`.
pub fn dump_page(k: &Kernel, page: &Page, pfn: u64, reason: Option<&str>) {
    let p = &k.printk;
    let era = &k.era;
    // page_mapcount: _mapcount + 1; 6.10+ shows 0 for a page with a type.
    let mapcount = if era.at_least(6, 10) && PageBuddy(page) {
        0
    } else {
        page.mapcount.wrapping_add(1)
    };
    let count = if era.at_least(4, 16) {
        "refcount"
    } else {
        "count"
    };
    let mut line = alloc::format!(
        "page:{} {count}:{} mapcount:{mapcount} mapping:{} index:{:#x}",
        page_ptr(k, pfn),
        page.refcount,
        mapping_ptr(k, page.mapping),
        page.index
    );
    if era.at_least(5, 7) {
        let _ = write!(line, " pfn:{pfn:#x}");
    }
    crate::pr_warn!(p, "{line}\n");
    if era.at_least(5, 14) {
        crate::pr_warn!(p, "flags: {}\n", format_page_flags(page.flags));
    } else if era.at_least(3, 19) {
        crate::pr_warn!(
            p,
            "flags: {:#x}({})\n",
            page.flags,
            page_flag_names(page.flags)
        );
    } else {
        crate::pr_warn!(
            p,
            "page flags: {:#x}({})\n",
            page.flags,
            page_flag_names(page.flags)
        );
    }
    if era.at_least(6, 4) {
        let t = page.mapcount as u32;
        let name = if PageBuddy(page) { "buddy" } else { "" };
        crate::pr_warn!(p, "page_type: {t:#x}({name})\n");
    }
    if let Some(r) = reason {
        crate::pr_warn!(p, "page dumped because: {r}\n");
    }
}

/// Whether the rate limit lets another report through: "Allow a burst of 60 reports, then
/// keep quiet for that minute; or allow a steady drip of one report per second."
fn ratelimit(k: &Kernel) -> bool {
    use crate::klib::ratelimit::{time_after, HZ};
    let st = &k.page_alloc.bad;
    let now = k.jiffies.get();
    if st.nr_shown.load(Relaxed) == 60 {
        // time_before(jiffies, resume)
        if time_after(st.resume.load(Relaxed), now) {
            st.nr_unshown.fetch_add(1, Relaxed);
            return false;
        }
        let unshown = st.nr_unshown.swap(0, Relaxed);
        if unshown != 0 {
            crate::pr_alert!(
                k.printk,
                "BUG: Bad page state: {unshown} messages suppressed\n"
            );
        }
        st.nr_shown.store(0, Relaxed);
    }
    if st.nr_shown.fetch_add(1, Relaxed) == 0 {
        st.resume.store(now.wrapping_add(60 * HZ), Relaxed);
    }
    true
}

/// kernel/panic.c `add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE)`: the first taint turns
/// lock debugging off and says so.
pub(crate) fn add_taint_bad_page(k: &Kernel) {
    k.page_alloc.taint_bad_page.store(true, Relaxed);
    if k.page_alloc.debug_locks.swap(false, Relaxed) {
        crate::pr_warn!(k.printk, "Disabling lock debugging due to kernel taint\n");
    }
}

/// mm/page_alloc.c: `bad_page`: "BUG: Bad page state", the page, the modules; taint.
/// (`dump_stack` is not reproduced.) The page is left as it was.
pub fn bad_page(k: &Kernel, cpu: u32, page: &Page, pfn: u64, reason: Option<&str>, bad_flags: u64) {
    if ratelimit(k) {
        crate::pr_alert!(
            k.printk,
            "BUG: Bad page state in process {}  pfn:{pfn:05x}\n",
            k.cpus.comm(cpu)
        );
        dump_page(k, page, pfn, reason);
        if bad_flags != 0 && !k.era.at_least(4, 20) {
            // dump_page_badflags (≤4.19).
            if k.era.at_least(4, 6) {
                crate::pr_alert!(
                    k.printk,
                    "bad because of flags: {bad_flags:#x}({})\n",
                    page_flag_names(bad_flags)
                );
            } else {
                crate::pr_alert!(k.printk, "bad because of flags:\n");
                crate::pr_alert!(
                    k.printk,
                    "page flags: {bad_flags:#x}({})\n",
                    page_flag_names(bad_flags)
                );
            }
        }
        // print_modules: nothing is loaded at boot.
        crate::pr_warn!(k.printk, "Modules linked in:\n");
    }
    add_taint_bad_page(k);
}

/// Report a `VM_BUG_ON_PAGE` (CONFIG_DEBUG_VM): the kernel dumps the page and BUG()s; bootmm
/// dumps it, names the check and refuses the call.
fn vm_bug_on_page(k: &Kernel, page: &Page, pfn: u64, cond: &str, file: &str) {
    dump_page(
        k,
        page,
        pfn,
        Some(&alloc::format!("VM_BUG_ON_PAGE({cond})")),
    );
    crate::pr_emerg!(k.printk, "kernel BUG at {file}!\n");
}

/// The zone a struct page's links name.
#[inline]
fn page_zone<'a>(k: &'a Kernel, page: &Page) -> Option<&'a Zone> {
    k.page_alloc.page_zone(page)
}

/// `__free_pages` of a page whose reference count is already 0: a double free. With
/// CONFIG_DEBUG_VM `put_page_testzero` stops at `VM_BUG_ON_PAGE(page_ref_count(page) ==
/// 0)`; bootmm reports it as "Bad page state" with the reason the free-time checks give for
/// such a page (a free buddy head: "nonzero mapcount"), or the failed assertion for a page
/// inside a larger free block, and leaves everything as it was.
pub(crate) fn report_free_of_free_page(k: &Kernel, cpu: u32, page: *mut Page, pfn: u64) {
    // SAFETY: a struct page of this memmap (the caller found it by pfn).
    let pg = unsafe { &*page };
    let reason = page_bad_reason(k, pg).unwrap_or("VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
    bad_page(k, cpu, pg, pfn, Some(reason), 0);
}

/// The common case of [`free_pages_prepare`], decided without reporting anything: a block
/// that is no compound page, aligned, inside `zone` (the zone its head's links name), and
/// whose every page is in the expected state (`free_page_is_bad` false), needs no clean-up.
/// Whatever this does not accept, [`free_pages_prepare`] looks at again and reports.
///
/// # Safety
/// `page` is the initialised struct page of `pfn`, and the memmap of its MAX_PAGE_ORDER
/// block exists (as for any block the allocator handed out).
#[inline(always)]
pub(crate) unsafe fn free_pages_prepare_fast(
    zone: &Zone,
    page: *mut Page,
    pfn: u64,
    order: u32,
) -> bool {
    // SAFETY: forwarded from the caller.
    let head = unsafe { &*page };
    let check = PAGE_FLAGS_CHECK_AT_FREE.bits();
    if PageTail(head)
        || PageHead(head)
        || pfn & ((1u64 << order) - 1) != 0
        || !zone.zone_spans_pfn(pfn)
        || !zone.zone_spans_pfn(pfn + (1 << order) - 1)
        || !page_expected_state(head, check)
    {
        return false;
    }
    // SAFETY: the block lies inside the zone's memmap (checked above).
    (1..1usize << order).all(|i| page_expected_state(unsafe { &*page.add(i) }, check))
}

/// mm/page_alloc.c: `free_pages_prepare`: the checks a block passes before it is freed
/// (`VM_BUG_ON_PAGE(PageTail)`, the compound order, the pfn alignment `__free_one_page`
/// asserts, the zone range, then `free_page_is_bad` on every page), and the clean-up of a
/// compound page. Returns false (after reporting) when the block must not be freed; nothing
/// is changed then.
#[cold]
#[inline(never)]
pub(crate) fn free_pages_prepare(
    k: &Kernel,
    cpu: u32,
    page: *mut Page,
    pfn: u64,
    order: u32,
) -> bool {
    // SAFETY: a struct page of this memmap.
    let head = unsafe { &*page };
    if PageTail(head) {
        vm_bug_on_page(k, head, pfn, "PageTail(page)", "mm/page_alloc.c");
        return false;
    }
    let compound = PageHead(head);
    // SAFETY: a head page's successor is in the same block.
    if compound && unsafe { compound_order(page) } != order {
        vm_bug_on_page(
            k,
            head,
            pfn,
            "compound && compound_order(page) != order",
            "mm/page_alloc.c",
        );
        return false;
    }
    if pfn & ((1u64 << order) - 1) != 0 {
        vm_bug_on_page(k, head, pfn, "pfn & ((1 << order) - 1)", "mm/page_alloc.c");
        return false;
    }
    let Some(zone) = page_zone(k, head) else {
        vm_bug_on_page(k, head, pfn, "bad_range(zone, page)", "mm/page_alloc.c");
        return false;
    };
    if !zone.zone_spans_pfn(pfn) || !zone.zone_spans_pfn(pfn + (1 << order) - 1) {
        crate::pr_err!(
            k.printk,
            "page 0x{pfn:x} outside node {} zone {} [ 0x{:x} - 0x{:x} ]\n",
            zone.node,
            zone.name,
            zone.zone_start_pfn,
            zone.zone_end_pfn()
        );
        vm_bug_on_page(k, head, pfn, "bad_range(zone, page)", "mm/page_alloc.c");
        return false;
    }
    let mut bad = 0;
    for i in 1..1usize << order {
        // SAFETY: the block lies inside the zone's memmap (checked above).
        let t = unsafe { &*page.add(i) };
        if compound {
            // free_tail_page_prepare: a compound tail carries TAIL_MAPPING and its head.
            let ok = PageTail(t) && (t.lru.next as usize & !1) == page as usize;
            if !ok {
                let why = if PageTail(t) {
                    "compound_head not consistent"
                } else {
                    "PageTail not set"
                };
                bad_page(k, cpu, t, pfn + i as u64, Some(why), 0);
                bad += 1;
                continue;
            }
            if i > 1 && t.mapping != TAIL_MAPPING {
                bad_page(
                    k,
                    cpu,
                    t,
                    pfn + i as u64,
                    Some("corrupted mapping in tail page"),
                    0,
                );
                bad += 1;
                continue;
            }
            // What remains is checked as the page will be once its compound fields go.
            // SAFETY: Page is plain data with no Drop; this is a local copy to inspect.
            let mut view: Page = unsafe { core::ptr::read(t) };
            view.mapping = 0;
            view.lru.next = view.lru.prev;
            if i == 1 {
                view.flags &= !0xff;
            }
            if let Some(r) = page_bad_reason(k, &view) {
                bad_page(k, cpu, t, pfn + i as u64, Some(r), 0);
                bad += 1;
            }
            continue;
        }
        if page_expected_state(t, PAGE_FLAGS_CHECK_AT_FREE.bits()) {
            continue;
        }
        if let Some(r) = page_bad_reason(k, t) {
            let flags = t.flags & PAGE_FLAGS_CHECK_AT_FREE.bits();
            bad_page(k, cpu, t, pfn + i as u64, Some(r), flags);
            bad += 1;
        }
    }
    if page_expected_state(head, PAGE_FLAGS_CHECK_AT_FREE.bits()) {
        // free_page_is_bad: the common case, decided without looking for a reason.
    } else if let Some(r) = page_bad_reason(k, head) {
        let flags = head.flags & PAGE_FLAGS_CHECK_AT_FREE.bits();
        bad_page(k, cpu, head, pfn, Some(r), flags);
        bad += 1;
    }
    if bad != 0 {
        return false;
    }
    if compound {
        // SAFETY: the checks passed: the block is ours; clear the compound fields.
        unsafe {
            (*page).flags &= !PageFlags::PG_HEAD.bits();
            for i in 1..1usize << order {
                let t = &mut *page.add(i);
                t.mapping = 0;
                t.lru.next = t.lru.prev;
            }
            (*page.add(1)).flags &= !0xff;
        }
    }
    true
}

/// `__free_pages` with an order above `MAX_PAGE_ORDER`: no free list exists for it (the
/// kernel does not check and writes past `free_area[]`). bootmm reports it as the
/// CONFIG_DEBUG_VM assertion `__free_one_page` would need, `VM_BUG_ON_PAGE(order >
/// MAX_PAGE_ORDER)`, and frees nothing (docs/divergences.md).
#[cold]
#[inline(never)]
pub(crate) fn report_bad_free_order(k: &Kernel, page: *mut Page, pfn: u64, order: u32) {
    // SAFETY: the caller validated `page` as the struct page of `pfn`.
    let pg = unsafe { &*page };
    let _ = order;
    vm_bug_on_page(k, pg, pfn, "order > MAX_PAGE_ORDER", "mm/page_alloc.c");
}

/// A validated struct page whose section has no pageblock flags: the memmap is broken.
/// CONFIG_DEBUG_VM's report; nothing is freed.
#[cold]
#[inline(never)]
pub(crate) fn report_no_pageblock(k: &Kernel, page: *mut Page, pfn: u64) {
    debug_assert!(
        false,
        "pfn {pfn:#x} has a struct page but no pageblock flags"
    );
    // SAFETY: the caller validated `page` as the struct page of `pfn`.
    let pg = unsafe { &*page };
    vm_bug_on_page(
        k,
        pg,
        pfn,
        "!get_pageblock_bitmap(page, pfn)",
        "mm/page_alloc.c",
    );
}
