// SPDX-License-Identifier: GPL-2.0-only
//! mm/highmem.c and arch/x86/mm/highmem_32.c: reaching HIGHMEM pages from a 32-bit kernel.
//!
//! DOC: a HIGHMEM page has no address in the direct map. `kmap` gives it one in the pkmap
//! area: one page table (`pkmap_page_table`, `LAST_PKMAP` entries) at `PKMAP_BASE`, its
//! slots handed out round-robin under `kmap_lock` and counted in `pkmap_count[]` (0 free,
//! 1 mapped but unused, n + 1 for n users). `page_address()` finds a kmapped page's address
//! in `page_address_htable`, a hash of `struct page` pointers. `kunmap` only drops the count:
//! the mapping stays until the slots wrap around and `flush_all_zero_pkmaps` clears every
//! slot at 1 (or `kmap_flush_unused` asks for that). `kmap_atomic` does not sleep or lock: it
//! writes the page into this CPU's next fixmap slot (`FIX_KMAP_BEGIN + KM_TYPE_NR × cpu +
//! depth`) and `kunmap_atomic` clears it. A lowmem page is returned at its direct-map
//! address by all of them.
//!
//! The page-table entries are real: the pkmap and fixmap page tables are pages of simulated
//! RAM, the ones `swapper_pg_dir` holds (arch/x86/pgtable_32.rs), written with the era's PTE format
//! (8-byte PAE entries, 4-byte otherwise), and every access through a kmap address goes
//! through them. The counts and the hash table are kept host-side under the lock that
//! guards them in the kernel.

use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::x86::pgtable_32_types::{self, Layout32, FIXADDR_TOP, KM_TYPE_NR, PAGE_OFFSET};
use crate::kernel::Kernel;
use crate::PhysAddr;

const PAGE: u64 = 4096;
/// `PA_HASH_ORDER`: 128 slots in `page_address_htable`.
const PA_HASH_ORDER: u32 = 7;
/// `FIX_KMAP_BEGIN`'s index in `enum fixed_addresses` (the slots before it: the hole, the
/// VDSO page, DBGP, the early console, the local APIC and MAX_IO_APICS I/O APICs). A build
/// fact; bootmm takes the Ubuntu and Debian builds' 70.
pub const FIX_KMAP_BEGIN: u64 = 70;
/// `_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL`: `kmap_prot`
/// (PAGE_KERNEL), with `_PAGE_NX` under PAE.
const KMAP_PROT: u64 = 0x163;
const PAGE_NX: u64 = 1 << 63;

/// Why a kmap call was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KmapError {
    /// Not an i386 kernel with HIGHMEM: there is no pkmap area.
    NoHighmem,
    /// The pfn has no struct page.
    NoPage(u64),
    /// Every pkmap slot is in use: the kernel's `kmap` would sleep until one frees.
    WouldSleep,
    /// This CPU's `KM_TYPE_NR` atomic slots are all in use: the kernel BUGs.
    AtomicOverflow { cpu: u32 },
    /// The kernel's BUG() (the text it prints); nothing changed.
    Bug(String),
}

impl core::fmt::Display for KmapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KmapError::NoHighmem => f.write_str("this kernel has no HIGHMEM (kmap needs an i386 kernel with CONFIG_HIGHMEM)"),
            KmapError::NoPage(pfn) => write!(f, "pfn {pfn:#x} has no struct page"),
            KmapError::WouldSleep => f.write_str("every pkmap slot is in use: kmap would sleep until a kunmap"),
            KmapError::AtomicOverflow { cpu } => write!(f, "CPU {cpu} has all {KM_TYPE_NR} kmap_atomic slots in use: the kernel BUGs (kmap_atomic_idx_push)"),
            KmapError::Bug(t) => f.write_str(t),
        }
    }
}

/// The kmap state `kmap_lock` guards.
#[derive(Debug, Default)]
struct Pkmap {
    /// `pkmap_count[LAST_PKMAP]`.
    count: Vec<u32>,
    /// `last_pkmap_nr`.
    last: usize,
    /// `page_address_htable`: per slot, the (pfn, virtual) pairs hashed there.
    htable: Vec<Vec<(u64, u64)>>,
}

/// The HIGHMEM mapping state of an i386 kernel (`None` on x86_64).
#[derive(Debug, Default)]
pub struct Highmem {
    layout: Option<Layout32>,
    /// `pkmap_page_table`'s physical address.
    pkmap_pt: u64,
    /// The fixmap's page tables: (the 2 or 4 MiB-aligned address they map, physical page).
    fixmap_pts: Vec<(u64, u64)>,
    /// `node_mem_map`'s physical address and first pfn (for `struct page` pointers).
    mem_map: (u64, u64),
    struct_page_size: u64,
    /// `GOLDEN_RATIO_PRIME_32` (0x9e370001) before 4.7's `GOLDEN_RATIO_32` (0x61c88647).
    golden: u32,
    kmap_lock: spin::Mutex<Pkmap>,
    /// Per CPU: `__kmap_atomic_idx`, the atomic slots in use.
    atomic_idx: spin::Mutex<Vec<u32>>,
}

impl Highmem {
    fn pae(&self) -> bool {
        self.layout.is_some_and(|l| l.pae)
    }

    fn last_pkmap(&self) -> usize {
        pgtable_32_types::last_pkmap(self.pae()) as usize
    }

    fn pte_size(&self) -> u64 {
        if self.pae() {
            8
        } else {
            4
        }
    }

    /// `PKMAP_ADDR(nr)`.
    fn pkmap_addr(&self, nr: usize) -> u64 {
        self.layout.map_or(0, |l| l.pkmap_base) + nr as u64 * PAGE
    }

    /// `hash_ptr(page, PA_HASH_ORDER)` of the page's `struct page` address.
    fn hash(&self, pfn: u64) -> usize {
        let page =
            PAGE_OFFSET + self.mem_map.0 + pfn.wrapping_sub(self.mem_map.1) * self.struct_page_size;
        ((page as u32).wrapping_mul(self.golden) >> (32 - PA_HASH_ORDER)) as usize
    }

    /// The PTE slot of `va`: the physical address of its entry, if a page table covers it.
    fn pte_pa(&self, va: u64) -> Option<u64> {
        let l = self.layout?;
        let pmd = pgtable_32_types::pmd_size(l.pae);
        let base = va & !(pmd - 1);
        let idx = (va - base) / PAGE;
        if (l.pkmap_base..l.pkmap_base + pmd).contains(&va) && self.pkmap_pt != 0 {
            return Some(self.pkmap_pt + idx * self.pte_size());
        }
        self.fixmap_pts
            .iter()
            .find(|(b, _)| *b == base)
            .map(|(_, pt)| pt + idx * self.pte_size())
    }
}

/// The fixmap address of slot `idx` (`__fix_to_virt`).
fn fix_to_virt(idx: u64) -> u64 {
    FIXADDR_TOP - idx * PAGE
}

/// arch/x86/mm/init_32.c: `kmap_init` and the page tables `permanent_kmaps_init` and
/// `early_ioremap_page_table_range_init` made: record where the pkmap page table (`pkmap`,
/// or from the brk buffer) and the fixmap's page tables (from the brk buffer) lie, zeroed.
/// Called once the layout is known; does nothing on x86_64 or without HIGHMEM.
pub(crate) fn kmap_init(k: &mut Kernel, pkmap: Option<u64>) {
    let Some(l) = crate::arch::x86::init_32::layout(k) else {
        return;
    };
    if !k.machine.kernel_config().highmem {
        return;
    }
    // The brk page-table buffer follows .bss (`__brk_base`).
    let mut brk = crate::include::addr::page_align(k.machine.image.layout().bss_end);
    let mut take = |k: &mut Kernel| {
        let p = brk;
        brk += PAGE;
        let _ = k.phys.memset(PhysAddr(p), 0, PAGE);
        p
    };
    let pmd = pgtable_32_types::pmd_size(l.pae);
    let mut fixmap_pts = Vec::new();
    let mut base = l.fixaddr_boot_start & !(pmd - 1);
    let tables = k.pt32.geom.is_some();
    while base < FIXADDR_TOP {
        // The page tables early_ioremap_page_table_range_init hooked into swapper_pg_dir,
        // where the tables are built.
        let pt = if tables {
            crate::arch::x86::pgtable_32::page_table_of(k, base)
        } else {
            Some(take(k))
        };
        if let Some(pt) = pt {
            fixmap_pts.push((base, pt));
        }
        base += pmd;
    }
    let pkmap_pt = match pkmap {
        Some(p) => p,
        None if tables => crate::arch::x86::pgtable_32::page_table_of(k, l.pkmap_base).unwrap_or(0),
        None => take(k),
    };
    let cfg = k.machine.kernel_config();
    let mem_map = k.flatmem_node_mem_map.unwrap_or((0, 0));
    let cpus = k.machine.cpus.max(1) as usize;
    k.highmem = Highmem {
        layout: Some(l),
        pkmap_pt,
        fixmap_pts,
        mem_map,
        struct_page_size: cfg.struct_page_size,
        golden: if k.era.at_least(4, 7) {
            0x61c8_8647
        } else {
            0x9e37_0001
        },
        kmap_lock: spin::Mutex::new(Pkmap {
            count: alloc::vec![0; pgtable_32_types::last_pkmap(l.pae) as usize],
            last: 0,
            htable: alloc::vec![Vec::new(); 1 << PA_HASH_ORDER],
        }),
        atomic_idx: spin::Mutex::new(alloc::vec![0; cpus]),
    };
}

fn write_pte(k: &Kernel, pte: u64, v: u64) {
    let p = PhysAddr(pte);
    if k.highmem.pae() {
        let _ = k.phys.write_u64(p, v);
    } else if let Ok(h) = k.phys.host_ptr(p, 4) {
        // SAFETY: four bytes of simulated RAM (checked by host_ptr) in a page table only
        // the kmap paths write, under kmap_lock or on the owning CPU.
        unsafe { h.as_ptr().cast::<u32>().write_unaligned(v as u32) };
    }
}

fn read_pte(k: &Kernel, pte: u64) -> u64 {
    let p = PhysAddr(pte);
    if k.highmem.pae() {
        k.phys.read_u64(p).unwrap_or(0)
    } else {
        k.phys.host_ptr(p, 4).map_or(0, |h| {
            // SAFETY: four bytes of simulated RAM, checked by host_ptr.
            u64::from(unsafe { h.as_ptr().cast::<u32>().read_unaligned() })
        })
    }
}

fn mk_pte(k: &Kernel, pfn: u64) -> u64 {
    (pfn << 12) | KMAP_PROT | if k.highmem.pae() { PAGE_NX } else { 0 }
}

/// Whether `pfn` is a HIGHMEM page (`PageHighMem`: at or above `max_low_pfn`).
fn page_high_mem(k: &Kernel, pfn: u64) -> bool {
    k.highmem.layout.is_some() && pfn >= k.max_low_pfn
}

/// The page must have a struct page. (Without CONFIG_HIGHMEM every page is lowmem and the
/// kmap calls are `page_address`, as include/linux/highmem.h has them.)
fn check_page(k: &Kernel, pfn: u64) -> Result<(), KmapError> {
    if k.sparse().pfn_to_page(pfn).is_none() || !k.memmap.page_initialised(pfn) {
        return Err(KmapError::NoPage(pfn));
    }
    Ok(())
}

/// mm/highmem.c: `page_address`: a lowmem page's direct-map address, a kmapped HIGHMEM
/// page's pkmap address from `page_address_htable`, else `None` (NULL).
pub fn page_address(k: &Kernel, pfn: u64) -> Option<u64> {
    if !page_high_mem(k, pfn) {
        return Some(k.phys.va(PhysAddr(pfn << 12)).0);
    }
    let h = &k.highmem;
    let t = h.kmap_lock.lock();
    t.htable[h.hash(pfn)]
        .iter()
        .find(|e| e.0 == pfn)
        .map(|e| e.1)
}

/// mm/highmem.c: `flush_all_zero_pkmaps`: every slot at count 1 (mapped, unused) is
/// unmapped: its PTE cleared, its page's `page_address` entry removed, the count 0.
fn flush_all_zero_pkmaps(k: &Kernel, t: &mut Pkmap) {
    let h = &k.highmem;
    for nr in 0..t.count.len() {
        if t.count[nr] != 1 {
            continue;
        }
        t.count[nr] = 0;
        let va = h.pkmap_addr(nr);
        if let Some(pte) = h.pte_pa(va) {
            let pfn = (read_pte(k, pte) & 0x000f_ffff_ffff_f000) >> 12;
            write_pte(k, pte, 0);
            let slot = h.hash(pfn);
            t.htable[slot].retain(|e| e.1 != va);
        }
    }
}

/// mm/highmem.c: `kmap` → `kmap_high` → `map_new_virtual`: the page's pkmap address, mapping
/// it in the next free slot if it has none, and one more user of the slot. Lowmem pages
/// return their direct-map address.
///
/// # Errors
/// [`KmapError::WouldSleep`] when every slot is in use (the kernel sleeps on
/// `pkmap_map_wait`); [`KmapError::NoHighmem`], [`KmapError::NoPage`].
///
/// Complexity: O(1) for a mapped page, O(LAST_PKMAP) for a new mapping at worst.
pub fn kmap(k: &Kernel, pfn: u64) -> Result<u64, KmapError> {
    check_page(k, pfn)?;
    if !page_high_mem(k, pfn) {
        return Ok(k.phys.va(PhysAddr(pfn << 12)).0);
    }
    let _tr = k.trace.enter("kmap_high", "mm/highmem.c");
    let h = &k.highmem;
    let mut t = h.kmap_lock.lock();
    let slot = h.hash(pfn);
    let va = match t.htable[slot].iter().find(|e| e.0 == pfn) {
        Some(e) => e.1,
        None => {
            // map_new_virtual
            let n = h.last_pkmap();
            let mut count = n;
            let nr = loop {
                t.last = (t.last + 1) & (n - 1);
                if t.last == 0 {
                    flush_all_zero_pkmaps(k, &mut t);
                    count = n;
                }
                if t.count[t.last] == 0 {
                    break t.last;
                }
                count -= 1;
                if count == 0 {
                    return Err(KmapError::WouldSleep);
                }
            };
            let va = h.pkmap_addr(nr);
            let Some(pte) = h.pte_pa(va) else {
                return Err(KmapError::NoHighmem);
            };
            write_pte(k, pte, mk_pte(k, pfn));
            t.count[nr] = 1;
            t.htable[slot].push((pfn, va));
            va
        }
    };
    let nr = ((va - h.pkmap_addr(0)) / PAGE) as usize;
    t.count[nr] += 1;
    debug_assert!(t.count[nr] >= 2, "pkmap_count of a kmapped page below 2");
    Ok(va)
}

/// mm/highmem.c: `kunmap` → `kunmap_high`: one user fewer of the page's slot. The mapping
/// stays (count 1) until the slots wrap around. Lowmem pages: nothing to do.
///
/// # Errors
/// [`KmapError::Bug`] with the kernel's report when the page is not kmapped (`BUG_ON(!vaddr)`)
/// or its slot has no user (`BUG()`); nothing changes.
pub fn kunmap(k: &Kernel, pfn: u64) -> Result<(), KmapError> {
    check_page(k, pfn)?;
    if !page_high_mem(k, pfn) {
        return Ok(());
    }
    let _tr = k.trace.enter("kunmap_high", "mm/highmem.c");
    let h = &k.highmem;
    let mut t = h.kmap_lock.lock();
    let Some(va) = t.htable[h.hash(pfn)]
        .iter()
        .find(|e| e.0 == pfn)
        .map(|e| e.1)
    else {
        drop(t);
        return Err(bug(
            k,
            &alloc::format!("kunmap_high: pfn {pfn:#x} is not kmapped (BUG_ON(!vaddr))"),
        ));
    };
    let nr = ((va - h.pkmap_addr(0)) / PAGE) as usize;
    if t.count[nr] <= 1 {
        drop(t);
        return Err(bug(
            k,
            &alloc::format!("kunmap_high: pfn {pfn:#x}'s pkmap slot {nr} has no user left"),
        ));
    }
    t.count[nr] -= 1;
    Ok(())
}

/// The kernel's BUG report for a kmap misuse, in the log; the error carries it.
fn bug(k: &Kernel, what: &str) -> KmapError {
    crate::pr_emerg!(k.printk, "kernel BUG at mm/highmem.c!\n");
    crate::pr_emerg!(k.printk, "invalid opcode: 0000 [#1] SMP\n");
    KmapError::Bug(alloc::format!("kernel BUG at mm/highmem.c!: {what}"))
}

/// mm/highmem.c: `kmap_flush_unused`: unmap every slot nobody uses now.
pub fn kmap_flush_unused(k: &Kernel) {
    if k.highmem.layout.is_none() {
        return;
    }
    let mut t = k.highmem.kmap_lock.lock();
    flush_all_zero_pkmaps(k, &mut t);
}

/// arch/x86/mm/highmem_32.c: `kmap_atomic` (`kmap_atomic_prot`): the page in CPU `cpu`'s next
/// fixmap slot, without sleeping or locking. Lowmem pages: their direct-map address.
///
/// # Errors
/// [`KmapError::AtomicOverflow`] past `KM_TYPE_NR` nested slots (the kernel BUGs);
/// [`KmapError::Bug`] when the slot is already mapped (`BUG_ON(!pte_none(*(kmap_pte-idx)))`).
pub fn kmap_atomic(k: &Kernel, cpu: u32, pfn: u64) -> Result<u64, KmapError> {
    check_page(k, pfn)?;
    if !page_high_mem(k, pfn) {
        return Ok(k.phys.va(PhysAddr(pfn << 12)).0);
    }
    let h = &k.highmem;
    let mut idx = h.atomic_idx.lock();
    let Some(depth) = idx.get_mut(cpu as usize) else {
        return Err(KmapError::NoPage(pfn));
    };
    if u64::from(*depth) >= KM_TYPE_NR {
        return Err(KmapError::AtomicOverflow { cpu });
    }
    let slot = FIX_KMAP_BEGIN + u64::from(*depth) + KM_TYPE_NR * u64::from(cpu);
    let va = fix_to_virt(slot);
    let Some(pte) = h.pte_pa(va) else {
        return Err(KmapError::NoHighmem);
    };
    if read_pte(k, pte) != 0 {
        drop(idx);
        return Err(bug(
            k,
            &alloc::format!("kmap_atomic: fixmap slot {slot} is mapped already"),
        ));
    }
    write_pte(k, pte, mk_pte(k, pfn));
    *depth += 1;
    Ok(va)
}

/// arch/x86/mm/highmem_32.c: `__kunmap_atomic`: clear CPU `cpu`'s top atomic slot, which
/// must be `va`'s (the kernel's slots nest like a stack). A direct-map address: nothing.
///
/// # Errors
/// [`KmapError::Bug`] for a kmap_atomic address that is not that CPU's top slot (the
/// kernel's `WARN_ON_ONCE(vaddr != __fix_to_virt(FIX_KMAP_BEGIN + idx))` and a stale
/// mapping), and for an address that is neither such a slot nor lowmem (its `BUG_ON`s).
pub fn kunmap_atomic(k: &Kernel, cpu: u32, va: u64) -> Result<(), KmapError> {
    let h = &k.highmem;
    let direct = |va: u64| {
        let base = k.phys.va(PhysAddr(0)).0;
        (base..base.saturating_add(k.max_low_pfn << 12)).contains(&va)
    };
    if h.layout.is_none() {
        // No HIGHMEM: kmap_atomic gave a direct-map address; kunmap_atomic does nothing.
        return Ok(());
    }
    let first = fix_to_virt(FIX_KMAP_BEGIN + KM_TYPE_NR * h.atomic_idx.lock().len() as u64 - 1);
    if !(first..=fix_to_virt(FIX_KMAP_BEGIN)).contains(&(va & !(PAGE - 1))) {
        if direct(va) {
            return Ok(());
        }
        // __kunmap_atomic: BUG_ON(vaddr < PAGE_OFFSET); BUG_ON(vaddr >= high_memory).
        return Err(bug(
            k,
            &alloc::format!("kunmap_atomic({va:#x}): neither a kmap_atomic slot nor lowmem"),
        ));
    }
    let mut idx = h.atomic_idx.lock();
    let depth = idx.get(cpu as usize).copied().unwrap_or(0);
    let top = FIX_KMAP_BEGIN + u64::from(depth).wrapping_sub(1) + KM_TYPE_NR * u64::from(cpu);
    if depth == 0 || va & !(PAGE - 1) != fix_to_virt(top) {
        drop(idx);
        return Err(bug(
            k,
            &alloc::format!("kunmap_atomic({va:#x}): not CPU {cpu}'s innermost kmap_atomic slot"),
        ));
    }
    if let Some(pte) = h.pte_pa(fix_to_virt(top)) {
        write_pte(k, pte, 0);
    }
    idx[cpu as usize] -= 1;
    Ok(())
}

/// The physical address behind a kmap or kmap_atomic address, through the page table that
/// maps it (what a walk of the kernel's tables finds); `None` when unmapped or not such an
/// address. Also reports the entry.
pub fn lookup_kmap_address(k: &Kernel, va: u64) -> Option<(u64, u64)> {
    let pte = k.highmem.pte_pa(va & !(PAGE - 1))?;
    let e = read_pte(k, pte);
    (e & 1 != 0).then(|| ((e & 0x000f_ffff_ffff_f000) + (va & (PAGE - 1)), e))
}

/// The pkmap slots in use and the `page_address_htable` entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkmapState {
    /// (slot, `pkmap_count[slot]`) of every slot whose count is not 0.
    pub counts: Vec<(usize, u32)>,
    /// (pfn, virtual address) of every `page_address_map` in the hash table, by pfn.
    pub entries: Vec<(u64, u64)>,
}

/// The pkmap slots in use and the `page_address_htable` entries, for views and tests.
pub fn pkmap_state(k: &Kernel) -> PkmapState {
    let t = k.highmem.kmap_lock.lock();
    let counts = t
        .count
        .iter()
        .enumerate()
        .filter(|(_, &c)| c != 0)
        .map(|(i, &c)| (i, c))
        .collect();
    let mut entries: Vec<(u64, u64)> = t.htable.iter().flatten().copied().collect();
    entries.sort_unstable();
    PkmapState { counts, entries }
}
