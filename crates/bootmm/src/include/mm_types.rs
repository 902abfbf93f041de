//! `include/linux/mm_types.h`, `page-flags.h`, `page-flags-layout.h`, `page_ref.h`, `list.h`:
//! `struct page` and the words packed into it.
//!
//! Every page frame has a 64-byte `struct page` in the memmap; its `flags` word carries the
//! PG_* bits in its low end and the page's zone, node (and, without VMEMMAP, section) in its
//! high end, and `lru` links it into the buddy allocator's free lists. bootmm lays the struct
//! out as x86_64 6.6 does and keeps its lists as raw pointers inside simulated RAM. It differs
//! in one place: the section number is kept in `flags` as classic SPARSEMEM does, because
//! bootmm has no virtually contiguous vmemmap to subtract from (see `docs/divergences.md`).

use core::mem::offset_of;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering::Relaxed};

/// `struct list_head` (include/linux/types.h): an intrusive doubly linked list node. The
/// pointers are host addresses of other `ListHead`s inside simulated RAM.
#[repr(C)]
#[derive(Debug)]
pub struct ListHead {
    pub next: *mut ListHead,
    pub prev: *mut ListHead,
}

/// `struct page` (include/linux/mm_types.h) as laid out on x86_64 without debug options:
/// 64 bytes, `lru` at offset 8, `_mapcount`/`page_type` at 48, `_refcount` at 52.
#[repr(C)]
#[derive(Debug)]
pub struct Page {
    /// PG_* bits and the zone/node/section fields (see [`ZONES_PGOFF`] and friends).
    pub flags: u64,
    /// Free-list linkage (`buddy_list`/`pcp_list` share it in 5.x+).
    pub lru: ListHead,
    pub mapping: u64,
    pub index: u64,
    /// For a free buddy page: its order (`set_buddy_order`).
    pub private: u64,
    /// `_mapcount`, in a union with `page_type` (see [`PageBuddy`]).
    pub mapcount: i32,
    pub refcount: i32,
    pub memcg_data: u64,
}

const _: () = assert!(core::mem::size_of::<Page>() == 64);
const _: () = assert!(offset_of!(Page, lru) == 8);
const _: () = assert!(offset_of!(Page, mapcount) == 48);
const _: () = assert!(offset_of!(Page, refcount) == 52);

/// `sizeof(struct page)` in bootmm's memmap.
pub const STRUCT_PAGE_SIZE: u64 = core::mem::size_of::<Page>() as u64;

bitflags::bitflags! {
    /// `enum pageflags` (include/linux/page-flags.h), numbered as 6.6 numbers them on x86_64
    /// (CONFIG_MMU, CONFIG_MEMORY_FAILURE; no PG_uncached, no PG_arch_2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageFlags: u64 {
        const PG_LOCKED = 1 << 0;
        const PG_WRITEBACK = 1 << 1;
        const PG_REFERENCED = 1 << 2;
        const PG_UPTODATE = 1 << 3;
        const PG_DIRTY = 1 << 4;
        const PG_LRU = 1 << 5;
        const PG_HEAD = 1 << 6;
        const PG_WAITERS = 1 << 7;
        const PG_ACTIVE = 1 << 8;
        const PG_WORKINGSET = 1 << 9;
        const PG_ERROR = 1 << 10;
        const PG_SLAB = 1 << 11;
        const PG_OWNER_PRIV_1 = 1 << 12;
        const PG_ARCH_1 = 1 << 13;
        const PG_RESERVED = 1 << 14;
        const PG_PRIVATE = 1 << 15;
        const PG_PRIVATE_2 = 1 << 16;
        const PG_MAPPEDTODISK = 1 << 17;
        const PG_RECLAIM = 1 << 18;
        const PG_SWAPBACKED = 1 << 19;
        const PG_UNEVICTABLE = 1 << 20;
        const PG_MLOCKED = 1 << 21;
        const PG_HWPOISON = 1 << 22;
    }
}

/// `NR_PAGEFLAGS`.
pub const NR_PAGEFLAGS: u32 = 23;

/// `SECTIONS_WIDTH`: `MAX_PHYSMEM_BITS - SECTION_SIZE_BITS` = 46 - 27 (x86_64, 4-level).
pub const SECTIONS_WIDTH: u32 = 19;
/// `NODES_WIDTH` = `CONFIG_NODES_SHIFT` of distribution x86_64 builds (MAX_NUMNODES 1024).
pub const NODES_WIDTH: u32 = 10;
/// `ZONES_WIDTH`: `order_base_2(MAX_NR_ZONES)`; DMA, DMA32, Normal, Movable, Device need 3.
pub const ZONES_WIDTH: u32 = 3;

/// `SECTIONS_PGOFF`: the fields are packed from the top of the word down.
pub const SECTIONS_PGOFF: u32 = 64 - SECTIONS_WIDTH;
/// `NODES_PGOFF`.
pub const NODES_PGOFF: u32 = SECTIONS_PGOFF - NODES_WIDTH;
/// `ZONES_PGOFF`.
pub const ZONES_PGOFF: u32 = NODES_PGOFF - ZONES_WIDTH;

const _: () = assert!(ZONES_PGOFF >= NR_PAGEFLAGS);

/// `SECTIONS_MASK`.
pub const SECTIONS_MASK: u64 = (1 << SECTIONS_WIDTH) - 1;
/// `NODES_MASK`.
pub const NODES_MASK: u64 = (1 << NODES_WIDTH) - 1;
/// `ZONES_MASK`.
pub const ZONES_MASK: u64 = (1 << ZONES_WIDTH) - 1;

/// `PAGE_TYPE_BASE` (6.6): the top byte of `page_type` while a type is set.
pub const PAGE_TYPE_BASE: u32 = 0xf000_0000;
/// `PG_buddy` in `page_type` (cleared while the page is free in the buddy allocator).
pub const PG_BUDDY: u32 = 0x0000_0080;

/// include/linux/mm.h: `page_zonenum`.
#[inline]
pub fn page_zonenum(page: &Page) -> u32 {
    ((page.flags >> ZONES_PGOFF) & ZONES_MASK) as u32
}

/// include/linux/mm.h: `page_to_nid` (NODE_NOT_IN_PAGE_FLAGS is not set on x86_64).
#[inline]
pub fn page_to_nid(page: &Page) -> u32 {
    ((page.flags >> NODES_PGOFF) & NODES_MASK) as u32
}

/// include/linux/mm.h: `page_to_section` (SECTION_IN_PAGE_FLAGS).
#[inline]
pub fn page_to_section(page: &Page) -> u64 {
    (page.flags >> SECTIONS_PGOFF) & SECTIONS_MASK
}

/// include/linux/mm.h: `set_page_zone`.
#[inline]
pub fn set_page_zone(page: &mut Page, zone: u32) {
    page.flags &= !(ZONES_MASK << ZONES_PGOFF);
    page.flags |= (u64::from(zone) & ZONES_MASK) << ZONES_PGOFF;
}

/// include/linux/mm.h: `set_page_node`.
#[inline]
pub fn set_page_node(page: &mut Page, nid: u32) {
    page.flags &= !(NODES_MASK << NODES_PGOFF);
    page.flags |= (u64::from(nid) & NODES_MASK) << NODES_PGOFF;
}

/// include/linux/mm.h: `set_page_section`.
#[inline]
pub fn set_page_section(page: &mut Page, section: u64) {
    page.flags &= !(SECTIONS_MASK << SECTIONS_PGOFF);
    page.flags |= (section & SECTIONS_MASK) << SECTIONS_PGOFF;
}

/// include/linux/mm.h: `set_page_links`.
#[inline]
pub fn set_page_links(page: &mut Page, zone: u32, nid: u32, pfn: u64) {
    set_page_zone(page, zone);
    set_page_node(page, nid);
    set_page_section(page, pfn >> crate::mm::sparse::PFN_SECTION_SHIFT);
}

/// The PG_* bits of `flags`.
#[inline]
pub fn page_flags(page: &Page) -> PageFlags {
    PageFlags::from_bits_truncate(page.flags & ((1 << NR_PAGEFLAGS) - 1))
}

/// `PageReserved`.
#[allow(non_snake_case)]
#[inline]
pub fn PageReserved(page: &Page) -> bool {
    page.flags & PageFlags::PG_RESERVED.bits() != 0
}

/// `SetPageReserved` (atomic in the kernel; bootmm is single-threaded).
#[allow(non_snake_case)]
#[inline]
pub fn SetPageReserved(page: &mut Page) {
    page.flags |= PageFlags::PG_RESERVED.bits();
}

/// `__SetPageReserved`.
#[allow(non_snake_case)]
#[inline]
pub fn __SetPageReserved(page: &mut Page) {
    page.flags |= PageFlags::PG_RESERVED.bits();
}

/// `__ClearPageReserved`.
#[allow(non_snake_case)]
#[inline]
pub fn __ClearPageReserved(page: &mut Page) {
    page.flags &= !PageFlags::PG_RESERVED.bits();
}

/// include/linux/page_ref.h: `page_count` (of a head page; compound pages come later).
#[inline]
pub fn page_count(page: &Page) -> i32 {
    page.refcount
}

/// include/linux/page_ref.h: `set_page_count`.
#[inline]
pub fn set_page_count(page: &mut Page, v: i32) {
    page.refcount = v;
}

/// include/linux/page_ref.h: `init_page_count`.
#[inline]
pub fn init_page_count(page: &mut Page) {
    set_page_count(page, 1);
}

/// include/linux/mm.h: `page_mapcount_reset` (`_mapcount = -1`: no type, not mapped).
#[inline]
pub fn page_mapcount_reset(page: &mut Page) {
    page.mapcount = -1;
}

/// `page_type` as the union views it.
#[inline]
fn page_type(page: &Page) -> u32 {
    page.mapcount as u32
}

/// include/linux/page-flags.h: `PageBuddy` (6.6 encoding: base bits set, PG_buddy clear).
#[allow(non_snake_case)]
#[inline]
pub fn PageBuddy(page: &Page) -> bool {
    page_type(page) & (PAGE_TYPE_BASE | PG_BUDDY) == PAGE_TYPE_BASE
}

/// include/linux/page-flags.h: `__SetPageBuddy`.
#[allow(non_snake_case)]
#[inline]
pub fn __SetPageBuddy(page: &mut Page) {
    debug_assert!(page_type(page) & (PAGE_TYPE_BASE | PG_BUDDY) == PAGE_TYPE_BASE | PG_BUDDY);
    page.mapcount = (page_type(page) & !PG_BUDDY) as i32;
}

/// include/linux/page-flags.h: `__ClearPageBuddy`.
#[allow(non_snake_case)]
#[inline]
pub fn __ClearPageBuddy(page: &mut Page) {
    debug_assert!(PageBuddy(page));
    page.mapcount = (page_type(page) | PG_BUDDY) as i32;
}

/// include/linux/mm.h: `set_page_private`.
#[inline]
pub fn set_page_private(page: &mut Page, v: u64) {
    page.private = v;
}

/// include/linux/mm.h: `page_private`.
#[inline]
pub fn page_private(page: &Page) -> u64 {
    page.private
}

/// include/linux/mm.h: `mm_zero_struct_page`.
#[inline]
pub fn mm_zero_struct_page(page: &mut Page) {
    *page = Page {
        flags: 0,
        lru: ListHead {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        },
        mapping: 0,
        index: 0,
        private: 0,
        mapcount: 0,
        refcount: 0,
        memcg_data: 0,
    };
}

// ----- include/linux/list.h ----------------------------------------------------------------
//
// As in the kernel, the `next` pointer that links a list forward is written with WRITE_ONCE
// and `list_empty` reads it with READ_ONCE, so that a reader without the list's lock (the
// watermark check looking at the free lists) sees either the old or the new pointer. Here
// both are relaxed atomic accesses: plain moves on x86, and no data race for Rust.

/// `WRITE_ONCE(*p, v)` of a list pointer.
///
/// # Safety
/// `p` must be valid for writes and aligned.
#[inline(always)]
unsafe fn write_once(p: *mut *mut ListHead, v: *mut ListHead) {
    // SAFETY: forwarded from the caller; every access that may race with this one is atomic.
    unsafe { AtomicPtr::from_ptr(p) }.store(v, Relaxed);
}

/// `READ_ONCE(*p)` of a list pointer.
///
/// # Safety
/// `p` must be valid for reads and aligned.
#[inline(always)]
unsafe fn read_once(p: *mut *mut ListHead) -> *mut ListHead {
    // SAFETY: as in `write_once`.
    unsafe { AtomicPtr::from_ptr(p) }.load(Relaxed)
}

/// `INIT_LIST_HEAD`.
///
/// # Safety
/// `list` must be valid for writes.
#[allow(non_snake_case)]
#[inline]
pub unsafe fn INIT_LIST_HEAD(list: *mut ListHead) {
    // SAFETY: the caller guarantees `list` is writable.
    unsafe {
        write_once(ptr::addr_of_mut!((*list).next), list);
        write_once(ptr::addr_of_mut!((*list).prev), list);
    }
}

/// `list_empty` (`READ_ONCE(head->next) == head`).
///
/// # Safety
/// `head` must point to an initialised list head.
#[inline]
pub unsafe fn list_empty(head: *const ListHead) -> bool {
    // SAFETY: the caller guarantees `head` is initialised.
    unsafe { ptr::eq(read_once(ptr::addr_of!((*head).next).cast_mut()), head) }
}

/// `__list_add`: insert `new` between two consecutive entries.
///
/// # Safety
/// All three must be valid, and `prev`/`next` adjacent on one list.
#[inline(always)]
unsafe fn __list_add(new: *mut ListHead, prev: *mut ListHead, next: *mut ListHead) {
    // SAFETY: the caller guarantees validity and adjacency.
    unsafe {
        (*next).prev = new;
        (*new).next = next;
        (*new).prev = prev;
        write_once(ptr::addr_of_mut!((*prev).next), new);
    }
}

/// `list_add`: insert `new` right after `head` (stack order).
///
/// # Safety
/// `head` must be an initialised list; `new` must be valid and on no list.
#[inline]
pub unsafe fn list_add(new: *mut ListHead, head: *mut ListHead) {
    // SAFETY: forwarded from the caller.
    unsafe { __list_add(new, head, (*head).next) }
}

/// `list_add_tail`: insert `new` right before `head` (queue order).
///
/// # Safety
/// As [`list_add`].
#[inline]
pub unsafe fn list_add_tail(new: *mut ListHead, head: *mut ListHead) {
    // SAFETY: forwarded from the caller.
    unsafe { __list_add(new, (*head).prev, head) }
}

/// `list_del`: unlink `entry`; its pointers are poisoned to null (the kernel uses
/// LIST_POISON1/2, which bootmm cannot dereference-trap either).
///
/// # Safety
/// `entry` must be on a well-formed list.
#[inline]
pub unsafe fn list_del(entry: *mut ListHead) {
    // SAFETY: the caller guarantees `entry` and its neighbours are valid.
    unsafe {
        let (prev, next) = ((*entry).prev, (*entry).next);
        // __list_del.
        (*next).prev = prev;
        write_once(ptr::addr_of_mut!((*prev).next), next);
        (*entry).next = ptr::null_mut();
        (*entry).prev = ptr::null_mut();
    }
}

/// `list_entry(ptr, struct page, lru)`: the page whose `lru` is `lru`.
#[inline]
pub fn lru_to_page(lru: *mut ListHead) -> *mut Page {
    lru.cast::<u8>().wrapping_sub(offset_of!(Page, lru)).cast()
}

// ----- CONFIG_DEBUG_VM ---------------------------------------------------------------------

/// What a debug check found wrong with a struct page (`VM_BUG_ON_PAGE` would fire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageBug {
    /// `page_zonenum`/`page_to_nid`/`page_to_section` disagree with where the page is.
    BadLinks {
        zone: u32,
        nid: u32,
        section: u64,
    },
    NegativeRefcount(i32),
    /// A free buddy page with a refcount, or an order beyond `MAX_PAGE_ORDER`.
    BadBuddy {
        refcount: i32,
        order: u64,
    },
    /// `lru.next->prev != &lru` or the like.
    BrokenList,
    /// Flag bits above NR_PAGEFLAGS that are not fields.
    StrayFlags(u64),
}

/// `mminit_verify_page_links` (mm/mm_init.c) plus the `VM_BUG_ON_PAGE` checks bootmm's
/// allocators rely on. Cheap enough to run on every page in debug builds.
pub fn debug_check_page(page: &Page, zone: u32, nid: u32, pfn: u64) -> Result<(), PageBug> {
    let section = pfn >> crate::mm::sparse::PFN_SECTION_SHIFT;
    if page_zonenum(page) != zone || page_to_nid(page) != nid || page_to_section(page) != section {
        return Err(PageBug::BadLinks {
            zone: page_zonenum(page),
            nid: page_to_nid(page),
            section: page_to_section(page),
        });
    }
    let stray = page.flags & ((1 << ZONES_PGOFF) - 1) & !((1 << NR_PAGEFLAGS) - 1);
    if stray != 0 {
        return Err(PageBug::StrayFlags(stray));
    }
    if page.refcount < 0 {
        return Err(PageBug::NegativeRefcount(page.refcount));
    }
    if PageBuddy(page) && (page.refcount != 0 || page.private > 10) {
        return Err(PageBug::BadBuddy {
            refcount: page.refcount,
            order: page.private,
        });
    }
    let l = &page.lru;
    if l.next.is_null() != l.prev.is_null() {
        return Err(PageBug::BrokenList);
    }
    if !l.next.is_null() {
        let me = l as *const ListHead as *mut ListHead;
        // SAFETY: non-null lru pointers of an initialised page point at list heads in
        // simulated RAM (other pages or list heads), which stay mapped as long as `page` is.
        let ok = unsafe { ptr::eq((*l.next).prev, me) && ptr::eq((*l.prev).next, me) };
        if !ok {
            return Err(PageBug::BrokenList);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Page {
        // SAFETY: Page is plain integers and raw pointers; all-zero is a valid value.
        let mut p: Page = unsafe { core::mem::zeroed() };
        mm_zero_struct_page(&mut p);
        p
    }

    #[test]
    fn links_round_trip_and_stay_out_of_the_flag_bits() {
        let mut p = blank();
        SetPageReserved(&mut p);
        let pfn = 0x13_ffff;
        set_page_links(&mut p, 4, 1023, pfn);
        assert_eq!(page_zonenum(&p), 4);
        assert_eq!(page_to_nid(&p), 1023);
        assert_eq!(page_to_section(&p), pfn >> 15);
        assert!(PageReserved(&p));
        assert_eq!(page_flags(&p), PageFlags::PG_RESERVED);
        set_page_links(&mut p, 1, 0, 0);
        assert_eq!(
            (page_zonenum(&p), page_to_nid(&p), page_to_section(&p)),
            (1, 0, 0)
        );
        __ClearPageReserved(&mut p);
        assert_eq!(p.flags, 1 << ZONES_PGOFF);
        assert_eq!(debug_check_page(&p, 1, 0, 5), Ok(()));
        assert!(debug_check_page(&p, 2, 0, 5).is_err());
    }

    #[test]
    fn buddy_type_and_refcount() {
        let mut p = blank();
        page_mapcount_reset(&mut p);
        init_page_count(&mut p);
        assert_eq!(page_count(&p), 1);
        assert!(!PageBuddy(&p));
        set_page_count(&mut p, 0);
        __SetPageBuddy(&mut p);
        set_page_private(&mut p, 3);
        assert!(PageBuddy(&p));
        assert_eq!(debug_check_page(&p, 0, 0, 0), Ok(()));
        set_page_count(&mut p, 1);
        assert!(matches!(
            debug_check_page(&p, 0, 0, 0),
            Err(PageBug::BadBuddy { .. })
        ));
        __ClearPageBuddy(&mut p);
        assert!(!PageBuddy(&p));
        assert_eq!(p.mapcount, -1);
    }

    #[test]
    fn intrusive_list_is_pointer_work() {
        let mut pages: [Page; 3] = [blank(), blank(), blank()];
        let mut head = ListHead {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        };
        let h: *mut ListHead = &mut head;
        let base = pages.as_mut_ptr();
        // SAFETY: every pointer is into `pages` or `head`, all live for the whole block.
        unsafe {
            INIT_LIST_HEAD(h);
            assert!(list_empty(h));
            for i in 0..3 {
                list_add_tail(ptr::addr_of_mut!((*base.add(i)).lru), h);
            }
            assert_eq!(lru_to_page((*h).next), base);
            assert_eq!(lru_to_page((*h).prev), base.add(2));
            for i in 0..3 {
                assert_eq!(debug_check_page(&*base.add(i), 0, 0, 0), Ok(()));
            }
            list_del(ptr::addr_of_mut!((*base.add(1)).lru));
            assert_eq!(lru_to_page((*(*h).next).next), base.add(2));
            list_add(ptr::addr_of_mut!((*base.add(1)).lru), h);
            assert_eq!(lru_to_page((*h).next), base.add(1));
            // Break a link: the checker notices.
            (*base.add(2)).lru.prev = h;
            assert_eq!(
                debug_check_page(&*base.add(2), 0, 0, 0),
                Err(PageBug::BrokenList)
            );
        }
    }
}
