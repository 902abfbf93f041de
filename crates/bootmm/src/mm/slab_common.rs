// SPDX-License-Identifier: GPL-2.0-only
//! mm/slab_common.c: what every slab allocator shares: `slab_caches` and `slab_mutex`, the
//! kmalloc caches (`kmalloc_caches[][]`, `create_kmalloc_caches`), `kmem_cache_create` with
//! cache merging, `kmalloc`/`kfree`/`krealloc`/`ksize`, and `/proc/slabinfo`.
//!
//! DOC: kmalloc serves requests up to `KMALLOC_MAX_CACHE_SIZE` (8 KiB on x86_64 SLUB) from
//! one cache per size class (8, 16, 32, 64, 96, 128, 192, 256, … 8192) and per type:
//! normal, reclaimable (`kmalloc-rcl-`, 4.20), DMA (`dma-kmalloc-`) and accounted
//! (`kmalloc-cg-`, 5.14, with memcg kmem accounting). Larger requests go straight to the
//! page allocator as compound pages. Which types exist is decided once per release and
//! configuration in [`KmallocRules`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};

use crate::era::Era;
use crate::include::gfp::{gfp_constant, Gfp};
use crate::include::mm_types::{list_add, list_del, ListHead, Page};
use crate::kernel::Kernel;
use crate::mm::slab::{
    kmalloc_index_size, kmalloc_size_index, zero_or_null_ptr, KmallocType, SlabFlags,
    KMALLOC_MAX_CACHE_SIZE, KMALLOC_SHIFT_HIGH, KMALLOC_SHIFT_LOW, NR_KMALLOC_TYPES, ZERO_SIZE_PTR,
};
use crate::mm::slub::alloc::{
    self as a, CachePtr, Exclusive, KmemCache, OnCpu, OpenError, Owner, SlabHost, SlubMap,
    KMEM_CACHE_NODE_OFFSET,
};
use crate::mm::slub::debug::SlubDebug;
use crate::mm::slub::{SlabState, SlubParams, SlubRules};

/// Which kmalloc types a release and configuration create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KmallocRules {
    /// KMALLOC_RECLAIM: "mm, slab/slub: introduce kmalloc-reclaimable caches" (4.20).
    pub reclaim: bool,
    /// KMALLOC_CGROUP: "mm: memcg/slab: use a single set of kmem_caches for all allocations"
    /// follow-up (5.14), with CONFIG_MEMCG_KMEM and kmem accounting not disabled
    /// (`cgroup.memory=nokmem`).
    pub cgroup: bool,
    /// The DMA caches are made in the type loop (6.1: "mm/slab: create DMA caches in the
    /// kmalloc type loop"; id unconfirmed), instead of a second loop that starts with 96
    /// and 192.
    pub dma_in_type_loop: bool,
}

impl KmallocRules {
    pub fn new(era: &Era, cmdline: &str) -> Self {
        let nokmem = crate::klib::cmdline::early_param_values(cmdline, "cgroup.memory")
            .contains(&Some("nokmem"));
        KmallocRules {
            reclaim: era.at_least(4, 20),
            cgroup: era.at_least(5, 14) && !nokmem,
            dma_in_type_loop: era.at_least(6, 1),
        }
    }

    fn has(&self, t: KmallocType) -> bool {
        match t {
            KmallocType::Normal | KmallocType::Dma => true,
            KmallocType::Reclaim => self.reclaim,
            KmallocType::Cgroup => self.cgroup,
        }
    }

    /// include/linux/slab.h `kmalloc_type`.
    #[inline(always)]
    pub fn kmalloc_type(&self, gfp: Gfp) -> KmallocType {
        let not_normal = Gfp::__GFP_RECLAIMABLE | Gfp::__GFP_DMA | Gfp::__GFP_ACCOUNT;
        if !gfp.intersects(not_normal) {
            return KmallocType::Normal;
        }
        if gfp.contains(Gfp::__GFP_DMA) {
            KmallocType::Dma
        } else if !self.cgroup || gfp.contains(Gfp::__GFP_RECLAIMABLE) {
            if self.reclaim {
                KmallocType::Reclaim
            } else {
                KmallocType::Normal
            }
        } else {
            KmallocType::Cgroup
        }
    }
}

/// The free-pointer placement rule of a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeptrRule {
    /// Up to 5.6: the first word of the free object.
    FirstWord,
    /// 5.7 ("slub: relocate freelist pointer to middle of object", Kees Cook):
    /// `ALIGN(object_size / 2, 8)` when the object is larger than a word.
    MiddleUp,
    /// 5.9 ("mm/slub: fix freepointer placement"... `ALIGN_DOWN(object_size / 2, 8)`;
    /// the release seen in the 5.10 tree).
    MiddleDown,
}

/// How `krealloc` treats a request the old object can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KreallocForm {
    /// Up to 6.11: returned as it is when `ksize` covers the new size.
    InPlace,
    /// 6.12: as before, the spare tail zeroed for __GFP_ZERO (`want_init_on_alloc`).
    ZeroTail,
    /// 6.13 (Feng Tang's "mm/slub: Improve redzone check and zeroing for krealloc()";
    /// release unconfirmed): the object size and the kmalloc orig_size decide; the grown
    /// part is zeroed and slub_debug's kmalloc red zone follows the new size.
    OrigSize,
}

/// The SLUB rules of one release, decided once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlubEraRules {
    pub krealloc: KreallocForm,
    pub order: SlubRules,
    pub freeptr: FreeptrRule,
    pub kmalloc: KmallocRules,
}

impl SlubEraRules {
    pub fn new(era: &Era, cmdline: &str) -> Self {
        SlubEraRules {
            krealloc: if era.at_least(6, 13) {
                KreallocForm::OrigSize
            } else if era.at_least(6, 12) {
                KreallocForm::ZeroTail
            } else {
                KreallocForm::InPlace
            },
            order: SlubRules::new(era),
            freeptr: if era.at_least(5, 9) {
                FreeptrRule::MiddleDown
            } else if era.at_least(5, 7) {
                FreeptrRule::MiddleUp
            } else {
                FreeptrRule::FirstWord
            },
            kmalloc: KmallocRules::new(era, cmdline),
        }
    }

    /// Where the free pointer of an `object_size`-byte object goes when it may go inside.
    pub fn freeptr_offset(&self, object_size: u32) -> u32 {
        match self.freeptr {
            FreeptrRule::FirstWord => 0,
            FreeptrRule::MiddleUp => {
                let area = object_size.next_multiple_of(8);
                if area > 8 {
                    (area / 2).next_multiple_of(8)
                } else {
                    0
                }
            }
            FreeptrRule::MiddleDown => (object_size / 2) & !7,
        }
    }
}

/// The slab allocators' globals (`slab_state`, `slab_caches`, `slab_mutex`, `kmem_cache`,
/// `kmem_cache_node`, `kmalloc_caches[][]`, the vmstat slab counters).
pub struct SlabCommon {
    state: AtomicU8,
    /// `slab_mutex`, guarding `slab_caches` and cache creation and destruction.
    mutex: spin::Mutex<()>,
    /// `slab_caches`: newest first. Boxed: the caches' `list` links point at it.
    slab_caches: Box<ListHead>,
    kmem_cache: AtomicU64,
    kmem_cache_node: AtomicU64,
    kmalloc_caches: [[Option<CachePtr>; (KMALLOC_SHIFT_HIGH + 1) as usize]; NR_KMALLOC_TYPES],
    /// `boot_kmem_cache` and `boot_kmem_cache_node` (__initdata), kept for the process's
    /// life so that nothing can point at freed host memory.
    boot: Vec<Box<[u64]>>,
    pub rules: SlubEraRules,
    pub params: SlubParams,
    pub debug: SlubDebug,
    pub map: SlubMap,
    pub nr_node_ids: u32,
    /// The CPU count `calculate_order` uses.
    pub nr_cpus_for_order: u32,
    /// `slab_nodes` (N_NORMAL_MEMORY).
    nodes: Vec<u32>,
    pub(crate) gfp_kernel: Gfp,
    pub(crate) gfp_nowait: Gfp,
    /// NR_SLAB_RECLAIMABLE_B and NR_SLAB_UNRECLAIMABLE_B, bytes (all nodes).
    pub nr_slab_reclaimable_b: AtomicI64,
    pub nr_slab_unreclaimable_b: AtomicI64,
    /// SLUB's error reports and fixes (slub_kunit's `slab_errors`).
    pub errors: AtomicU64,
    /// `slub_oom_rs`: the rate limit of `slab_out_of_memory`.
    pub(crate) oom_rs: crate::klib::ratelimit::RatelimitState,
}

// SAFETY: the raw pointers name caches and list heads in simulated RAM and in `boot`, which
// live as long as the kernel; they change only under `mutex` or with the kernel held
// exclusively.
unsafe impl Send for SlabCommon {}
// SAFETY: as above.
unsafe impl Sync for SlabCommon {}

impl Default for SlabCommon {
    fn default() -> Self {
        let era = Era::default();
        SlabCommon {
            state: AtomicU8::new(SlabState::Down as u8),
            mutex: spin::Mutex::new(()),
            slab_caches: Box::new(ListHead {
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
            }),
            kmem_cache: AtomicU64::new(0),
            kmem_cache_node: AtomicU64::new(0),
            kmalloc_caches: [[None; (KMALLOC_SHIFT_HIGH + 1) as usize]; NR_KMALLOC_TYPES],
            boot: Vec::new(),
            rules: SlubEraRules::new(&era, ""),
            params: SlubParams::default(),
            debug: SlubDebug::default(),
            map: SlubMap::default(),
            nr_node_ids: 1,
            nr_cpus_for_order: 1,
            nodes: alloc::vec![0],
            gfp_kernel: Gfp::empty(),
            gfp_nowait: Gfp::empty(),
            nr_slab_reclaimable_b: AtomicI64::new(0),
            nr_slab_unreclaimable_b: AtomicI64::new(0),
            errors: AtomicU64::new(0),
            oom_rs: Default::default(),
        }
    }
}

impl SlabCommon {
    /// `slab_state`.
    #[inline]
    pub fn state(&self) -> SlabState {
        SlabState::from_u8(self.state.load(Ordering::Acquire))
    }

    fn set_state(&self, s: SlabState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// `kmem_cache_node`.
    pub(crate) fn kmem_cache_node_ptr(&self) -> *mut KmemCache {
        self.kmem_cache_node.load(Ordering::Acquire) as usize as *mut KmemCache
    }

    pub(crate) fn kmem_cache_ptr(&self) -> *mut KmemCache {
        self.kmem_cache.load(Ordering::Acquire) as usize as *mut KmemCache
    }

    /// `slab_nodes`.
    pub fn slab_nodes(&self) -> impl Iterator<Item = u32> + '_ {
        self.nodes.iter().copied()
    }

    /// `node_isset(node, slab_nodes)`.
    pub(crate) fn node_has_slabs(&self, node: i32) -> bool {
        node >= 0 && self.nodes.contains(&(node as u32))
    }

    /// NR_SLAB_RECLAIMABLE_B and NR_SLAB_UNRECLAIMABLE_B: bytes of slab pages.
    pub fn slab_bytes(&self) -> (u64, u64) {
        let get = |c: &AtomicI64| c.load(Ordering::Relaxed).max(0) as u64;
        (
            get(&self.nr_slab_reclaimable_b),
            get(&self.nr_slab_unreclaimable_b),
        )
    }

    /// `kmem_cache_flags`.
    pub(crate) fn kmem_cache_flags(&self, name: &str, flags: SlabFlags) -> SlabFlags {
        self.debug.kmem_cache_flags(name, flags)
    }

    /// `account_slab` / `unaccount_slab`: the node's slab counter by the cache's kind.
    pub(crate) fn account_slab(&self, s: &KmemCache, order: u32, add: bool) {
        let bytes = (4096i64) << order;
        let c = if s.flags.contains(SlabFlags::SLAB_RECLAIM_ACCOUNT) {
            &self.nr_slab_reclaimable_b
        } else {
            &self.nr_slab_unreclaimable_b
        };
        c.fetch_add(if add { bytes } else { -bytes }, Ordering::Relaxed);
    }

    /// `kmalloc_caches[type][index]`.
    pub fn kmalloc_cache(&self, t: KmallocType, index: u32) -> Option<CachePtr> {
        self.kmalloc_caches[t as usize]
            .get(index as usize)
            .copied()
            .flatten()
    }

    /// Every cache on `slab_caches`, newest first (as /proc/slabinfo lists them).
    pub fn caches(&self) -> Vec<CachePtr> {
        let _g = self.mutex.lock();
        self.caches_locked()
    }

    fn caches_locked(&self) -> Vec<CachePtr> {
        let head = &*self.slab_caches as *const ListHead as *mut ListHead;
        let mut v = Vec::new();
        // SAFETY: the list is only changed under `mutex`, which is held; its entries are
        // the `list` fields of live caches.
        unsafe {
            if (*head).next.is_null() {
                return v;
            }
            let mut l = (*head).next;
            while l != head {
                let s = l
                    .cast::<u8>()
                    .wrapping_sub(core::mem::offset_of!(KmemCache, list))
                    .cast::<KmemCache>();
                v.push(CachePtr(NonNull::new_unchecked(s)));
                l = (*l).next;
            }
        }
        v
    }

    /// The live cache at kernel address `va` (a script's cache value), if it is one.
    pub fn cache_at(&self, va: u64) -> Option<CachePtr> {
        self.caches()
            .into_iter()
            .find(|c| self.map.va(c.as_ptr().cast()) == va)
    }

    /// The live cache named `name`.
    pub fn cache_named(&self, name: &str) -> Option<CachePtr> {
        // SAFETY: listed caches are live.
        self.caches()
            .into_iter()
            .find(|c| unsafe { c.get() }.name() == name)
    }
}

/// A cache this kernel has and will keep while the handle lives: destroying a cache needs
/// the kernel exclusively, which a shared borrow rules out. Get one with
/// [`Kernel::kmem_cache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cache<'k> {
    ptr: CachePtr,
    _k: core::marker::PhantomData<&'k Kernel>,
}

impl Cache<'_> {
    /// The raw handle (valid until the cache is destroyed).
    pub fn ptr(self) -> CachePtr {
        self.ptr
    }
}

impl Kernel {
    /// The live cache `c` names, as a handle the CPUs may use; `None` when `c` was destroyed
    /// or never was a cache of this kernel.
    pub fn kmem_cache(&self, c: CachePtr) -> Option<Cache<'_>> {
        self.slab.caches().contains(&c).then_some(Cache {
            ptr: c,
            _k: core::marker::PhantomData,
        })
    }
}

/// The address of a cache as the kernel sees it (`struct kmem_cache *`).
pub fn cache_va(k: &Kernel, c: CachePtr) -> u64 {
    k.slab.map.va(c.as_ptr().cast())
}

// ----- kmem_cache_init ---------------------------------------------------------------------

/// Why SLUB could not come up (the kernel panics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabInitError(pub String);

/// mm/slab_common.c `create_boot_cache`: open a static cache (`refcount` -1: never merged).
///
/// # Safety
/// `s` has room for a cache and its node pointers, and is reachable by nobody else.
unsafe fn create_boot_cache<H: SlabHost>(
    h: &mut H,
    s: *mut KmemCache,
    name: &str,
    size: u32,
    flags: SlabFlags,
    usersize: u32,
) -> Result<(), SlabInitError> {
    let mut align = 8u32;
    if size.is_power_of_two() {
        align = align.max(size);
    }
    // SAFETY: forwarded.
    unsafe {
        (*s).set_name(name);
        (*s).size = size;
        (*s).object_size = size;
        (*s).align = a::calculate_alignment(flags, align, size);
        (*s).useroffset = 0;
        (*s).usersize = usersize;
        a::kmem_cache_open(h, s, flags).map_err(|e| {
            SlabInitError(alloc::format!(
                "Creation of kmalloc slab {name} size={size} failed. Reason {}",
                match e {
                    OpenError::Sizes | OpenError::NoMemory => -22,
                    OpenError::Alloc(_) => -12,
                }
            ))
        })?;
        (*s).refcount = -1;
    }
    Ok(())
}

/// `kmem_cache_zalloc(kmem_cache, gfp)`: room for a new cache.
fn zalloc_cache<H: SlabHost>(h: &mut H, gfp: Gfp) -> Result<*mut KmemCache, SlabInitError> {
    let kc = h.k().slab.kmem_cache_ptr();
    // SAFETY: `kmem_cache` is live once bootstrapped; the host's CPU is held.
    let va = unsafe { a::slab_alloc_node(h, kc, gfp | Gfp::__GFP_ZERO, -1, 0) }
        .map_err(|e| SlabInitError(alloc::format!("{e:?}")))?;
    if va == 0 {
        return Err(SlabInitError("kmem_cache_zalloc failed".into()));
    }
    // SAFETY: a live cache.
    let size = unsafe { (*kc).object_size };
    h.k()
        .slab
        .map
        .host(va, u64::from(size))
        .map(|p| p.cast())
        .ok_or_else(|| SlabInitError("kmem_cache object outside RAM".into()))
}

/// `list_add(&s->list, &slab_caches)`.
///
/// # Safety
/// `s` is a live cache not on the list, and the caller holds the kernel exclusively or
/// `slab_mutex`.
unsafe fn link_cache(k: &Kernel, s: *mut KmemCache) {
    let head = &*k.slab.slab_caches as *const ListHead as *mut ListHead;
    // SAFETY: forwarded.
    unsafe { list_add(ptr::addr_of_mut!((*s).list), head) };
}

/// mm/slub.c `bootstrap`: the static boot cache moves into an object of `kmem_cache`.
///
/// # Safety
/// `static_cache` is a boot cache opened by [`create_boot_cache`].
unsafe fn bootstrap<H: SlabHost>(
    h: &mut H,
    static_cache: *mut KmemCache,
) -> Result<*mut KmemCache, SlabInitError> {
    let s = zalloc_cache(h, h.k().slab.gfp_nowait)?;
    let k = h.k();
    // SAFETY: forwarded; both are caches of `kmem_cache->object_size` bytes.
    unsafe {
        let size = (*k.slab.kmem_cache_ptr()).object_size as usize;
        ptr::copy_nonoverlapping(static_cache.cast::<u8>(), s.cast::<u8>(), size);
        a::__flush_cpu_slab(k, h.cpu(), s);
        for (_, n) in a::cache_nodes(k, s).collect::<Vec<_>>() {
            for slab in a::node_partial_slabs(n) {
                (*slab).slab_cache = s;
            }
        }
        link_cache(k, s);
    }
    Ok(s)
}

/// mm/slub.c `kmem_cache_init`: the boot caches, bootstrap, the kmalloc caches, and the
/// "SLUB:" line. Runs on the boot CPU after `mem_init`.
///
/// # Errors
/// What the kernel panics on (no memory for the boot caches).
pub fn kmem_cache_init(k: &mut Kernel) -> Result<(), SlabInitError> {
    let _t = k.trace.enter("kmem_cache_init", "mm/slub.c");
    let Some(map) = SlubMap::new(k) else {
        return Err(SlabInitError("simulated RAM is not mapped".into()));
    };
    let cmdline = k.machine.cmdline.clone();
    let era = k.era.clone();
    let nodes: Vec<u32> = k
        .page_alloc
        .nodes()
        .iter()
        .filter(|n| n.node_present_pages > 0)
        .map(|n| n.node_id)
        .collect();
    let slab = &mut k.slab;
    slab.map = map;
    slab.rules = SlubEraRules::new(&era, &cmdline);
    slab.params = SlubParams::from_cmdline(&cmdline);
    let dbg = crate::klib::cmdline::early_param_values(&cmdline, "slub_debug");
    slab.debug = match dbg.last() {
        None => SlubDebug::default(),
        Some(v) => SlubDebug::parse(Some(v.unwrap_or(""))),
    };
    slab.nr_node_ids = k.numa.nr_node_ids.max(1);
    // calculate_order's CPU count: num_present_cpus (5.15+) or nr_cpu_ids: the same at boot.
    slab.nr_cpus_for_order = k.cpus.nr_cpu_ids();
    slab.nodes = if nodes.is_empty() {
        alloc::vec![0]
    } else {
        nodes
    };
    slab.gfp_kernel = gfp_constant(&era, "GFP_KERNEL")
        .unwrap_or(Gfp::__GFP_RECLAIM | Gfp::__GFP_IO | Gfp::__GFP_FS);
    slab.gfp_nowait = gfp_constant(&era, "GFP_NOWAIT").unwrap_or(Gfp::__GFP_KSWAPD_RECLAIM);
    // SAFETY: the list head is boxed and stays where it is.
    unsafe { crate::include::mm_types::INIT_LIST_HEAD(&mut *slab.slab_caches) };
    for c in &slab.debug.unknown {
        crate::pr_err!(k.printk, "slub_debug option '{}' unknown. skipped\n", c);
    }
    let nr_node_ids = slab.nr_node_ids;
    let cache_words = (KMEM_CACHE_NODE_OFFSET + 8 * nr_node_ids as usize).div_ceil(8);
    let mut boot_kcn: Box<[u64]> = alloc::vec![0u64; cache_words].into_boxed_slice();
    let mut boot_kc: Box<[u64]> = alloc::vec![0u64; cache_words].into_boxed_slice();
    let kcn = boot_kcn.as_mut_ptr().cast::<KmemCache>();
    let kc = boot_kc.as_mut_ptr().cast::<KmemCache>();
    k.slab.boot.push(boot_kcn);
    k.slab.boot.push(boot_kc);
    k.slab.kmem_cache_node.store(kcn as u64, Ordering::Release);
    k.slab.kmem_cache.store(kc as u64, Ordering::Release);
    let mut h = Exclusive(k);
    // SAFETY: both boot caches are zeroed host memory of the right size, reachable by nobody.
    unsafe {
        let t = h.0.trace.enter("create_boot_cache", "mm/slab_common.c");
        create_boot_cache(
            &mut h,
            kcn,
            "kmem_cache_node",
            core::mem::size_of::<a::KmemCacheNode>() as u32,
            SlabFlags::SLAB_HWCACHE_ALIGN,
            0,
        )?;
        drop(t);
        h.0.slab.set_state(SlabState::Partial);
        let _t = h.0.trace.enter("create_boot_cache", "mm/slab_common.c");
        create_boot_cache(
            &mut h,
            kc,
            "kmem_cache",
            (KMEM_CACHE_NODE_OFFSET + 8 * nr_node_ids as usize) as u32,
            SlabFlags::SLAB_HWCACHE_ALIGN,
            0,
        )?;
        let real_kc = bootstrap(&mut h, kc)?;
        h.0.slab.kmem_cache.store(real_kc as u64, Ordering::Release);
        let real_kcn = bootstrap(&mut h, kcn)?;
        h.0.slab
            .kmem_cache_node
            .store(real_kcn as u64, Ordering::Release);
    }
    create_kmalloc_caches(&mut h)?;
    let k = h.0;
    let p = &k.slab.params;
    // Before 3.9 (believed) the line began with the caches kmem_cache_init created itself
    // ("Genslabs"): the boot caches (kmem_cache_node; from 3.7's create_boot_cache also
    // kmem_cache), kmalloc-8 up to kmalloc-8192 (KMALLOC_SHIFT_LOW 3 to SLUB_PAGE_SHIFT
    // PAGE_SHIFT + 2, exclusive), and kmalloc-96 and kmalloc-192.
    let genslabs = if k.era.at_least(3, 9) {
        String::new()
    } else {
        let boot = if k.era.at_least(3, 7) { 2 } else { 1 };
        alloc::format!("Genslabs={}, ", boot + (12 + 2 - 3) + 2)
    };
    crate::pr_info!(
        k.printk,
        "SLUB: {genslabs}HWalign={}, Order={}-{}, MinObjects={}, CPUs={}, Nodes={}\n",
        crate::include::SMP_CACHE_BYTES,
        p.min_order,
        p.max_order,
        p.min_objects,
        k.cpus.nr_cpu_ids(),
        k.slab.nr_node_ids
    );
    Ok(())
}

/// The name `kmalloc_info[index].name[type]` gives.
fn kmalloc_cache_name(rules: &SlubEraRules, t: KmallocType, index: u32) -> String {
    let size = kmalloc_index_size(index);
    let base = crate::mm::slub::kmalloc_name(&rules.order, size);
    let suffix = base.strip_prefix("kmalloc-").unwrap_or(&base);
    alloc::format!("{}{}", t.prefix(), suffix)
}

/// mm/slab_common.c `new_kmalloc_cache` / `create_kmalloc_cache`.
fn new_kmalloc_cache(
    h: &mut Exclusive<'_>,
    index: u32,
    t: KmallocType,
) -> Result<(), SlabInitError> {
    let rules = h.k().slab.rules;
    let mut flags = SlabFlags::empty();
    match t {
        KmallocType::Reclaim => flags |= SlabFlags::SLAB_RECLAIM_ACCOUNT,
        KmallocType::Cgroup => flags |= SlabFlags::SLAB_ACCOUNT,
        KmallocType::Dma => flags |= SlabFlags::SLAB_CACHE_DMA,
        KmallocType::Normal => {
            if rules.kmalloc.cgroup {
                flags |= SlabFlags::SLAB_NO_MERGE;
            }
        }
    }
    let name = kmalloc_cache_name(&rules, t, index);
    let size = kmalloc_index_size(index);
    let s = zalloc_cache(h, h.k().slab.gfp_nowait)?;
    // SAFETY: a fresh zeroed cache object nobody else reaches.
    unsafe {
        create_boot_cache(h, s, &name, size, flags | SlabFlags::SLAB_KMALLOC, size)?;
        link_cache(h.k(), s);
        (*s).refcount = 1;
    }
    // kmalloc_caches[type][idx]: written at boot, with the kernel held exclusively.
    h.0.slab.kmalloc_caches[t as usize][index as usize] = NonNull::new(s).map(CachePtr);
    Ok(())
}

/// mm/slab_common.c `create_kmalloc_caches`.
fn create_kmalloc_caches(h: &mut Exclusive<'_>) -> Result<(), SlabInitError> {
    let rules = h.0.slab.rules.kmalloc;
    let types: Vec<KmallocType> = KmallocType::ALL
        .into_iter()
        .filter(|&t| rules.has(t) && (t != KmallocType::Dma || rules.dma_in_type_loop))
        .collect();
    for t in types {
        for i in KMALLOC_SHIFT_LOW..=KMALLOC_SHIFT_HIGH {
            new_kmalloc_cache(h, i, t)?;
            if i == 6 {
                new_kmalloc_cache(h, 1, t)?;
            }
            if i == 7 {
                new_kmalloc_cache(h, 2, t)?;
            }
        }
    }
    h.0.slab.set_state(SlabState::Up);
    if !rules.dma_in_type_loop {
        // Before 6.1: the DMA caches in a second loop over the indexes 1..13.
        for i in 1..=KMALLOC_SHIFT_HIGH {
            if h.0.slab.kmalloc_cache(KmallocType::Normal, i).is_some() {
                new_kmalloc_cache(h, i, KmallocType::Dma)?;
            }
        }
    }
    Ok(())
}

// ----- kmalloc -----------------------------------------------------------------------------

/// mm/slab_common.c `kmalloc_slab`.
#[inline(always)]
fn kmalloc_slab(k: &Kernel, size: u64, gfp: Gfp) -> Option<CachePtr> {
    let t = k.slab.rules.kmalloc.kmalloc_type(gfp);
    k.slab.kmalloc_cache(t, kmalloc_size_index(size))
}

/// `__do_kmalloc_node`: the address, [`ZERO_SIZE_PTR`] for size 0, 0 (NULL) on failure.
///
/// # Errors
/// The page allocator could not be called.
///
/// # Safety
/// The host's CPU is held.
#[inline(always)]
pub(crate) unsafe fn __do_kmalloc_node<H: SlabHost>(
    h: &mut H,
    size: u64,
    gfp: Gfp,
    node: i32,
) -> Result<u64, crate::mm::page_alloc::AllocError> {
    if size > KMALLOC_MAX_CACHE_SIZE {
        return __kmalloc_large_node(h, size, gfp, node);
    }
    if size == 0 {
        return Ok(ZERO_SIZE_PTR);
    }
    let Some(s) = kmalloc_slab(h.k(), size, gfp) else {
        return Ok(0);
    };
    // SAFETY: kmalloc caches live for the kernel's life; forwarded.
    unsafe { a::slab_alloc_node(h, s.as_ptr(), gfp, node, size as u32) }
}

/// mm/slab_common.c `__kmalloc_large_node`: compound pages straight from the page
/// allocator, counted as unreclaimable slab memory.
fn __kmalloc_large_node<H: SlabHost>(
    h: &mut H,
    size: u64,
    gfp: Gfp,
    node: i32,
) -> Result<u64, crate::mm::page_alloc::AllocError> {
    let order = crate::mm::slub::get_order(size);
    if order > crate::mm::page_alloc::MAX_PAGE_ORDER {
        // KMALLOC_MAX_SIZE exceeded: the page allocator warns and fails.
        return Ok(0);
    }
    let Some(page) = h.alloc_pages(gfp | Gfp::__GFP_COMP, order, node)? else {
        return Ok(0);
    };
    let k = h.k();
    k.slab
        .nr_slab_unreclaimable_b
        .fetch_add(4096 << order, Ordering::Relaxed);
    let pfn = crate::mm::page_alloc::page_to_pfn(k, page).unwrap_or(0);
    Ok(k.phys
        .va(crate::PhysAddr(pfn << crate::include::PAGE_SHIFT))
        .0)
}

/// What a kfree found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KfreeError {
    /// The address is not simulated RAM with a struct page (the kernel would fault).
    NotMemory(u64),
    /// A page that is neither a slab nor a large kmalloc (an order-0 block: the kernel's
    /// "object pointer" warning).
    NotKmalloc(u64),
    /// An address inside a slab where no object fits (its bytes would run past the slab:
    /// the kernel would write its free pointer outside).
    NotAnObject(u64),
    /// A `struct kmem_cache` or `kmem_cache_node` of a live cache (the kernel would free it
    /// and crash later; bootmm's caches are linked by host pointers, so it refuses).
    SlabMetadata(u64),
}

/// mm/slub.c `kfree` on the host's CPU.
///
/// # Errors
/// [`KfreeError`] for an address that is no kmalloc object; nothing is changed.
///
/// # Safety
/// The host's CPU is held.
#[inline(always)]
pub(crate) unsafe fn kfree_on(k: &Kernel, cpu: u32, x: u64) -> Result<(), KfreeError> {
    if zero_or_null_ptr(x) {
        return Ok(());
    }
    // virt_to_folio, folio_test_slab, folio_slab(folio)->slab_cache, with the block's base
    // kept for the object check.
    let Some((head, base)) = k.slab.map.virt_to_head(k, x) else {
        return Err(KfreeError::NotMemory(x));
    };
    // SAFETY: a struct page of the memmap, readable.
    let (flags, s) = unsafe {
        let p = head.as_ptr().cast::<crate::mm::slab::Slab>();
        ((*p).__page_flags, (*p).slab_cache)
    };
    let owner = if flags & crate::include::mm_types::PageFlags::PG_SLAB.bits() != 0 && !s.is_null()
    {
        Owner::Slab(s, head.as_ptr().cast())
    } else {
        Owner::Pages(head)
    };
    match owner {
        Owner::Slab(s, _) if s == k.slab.kmem_cache_ptr() || s == k.slab.kmem_cache_node_ptr() => {
            return Err(KfreeError::SlabMetadata(x));
        }
        Owner::Slab(s, slab) => {
            // SAFETY: the slab's cache is live while it has slabs.
            if !a::is_slab_object(unsafe { &*s }, slab, base, x) {
                return Err(KfreeError::NotAnObject(x));
            }
            // SAFETY: as above; forwarded.
            unsafe { a::do_slab_free(k, cpu, s, slab, x) }
        }
        Owner::Pages(page) => return free_large_kmalloc(k, cpu, page, x),
        Owner::None => return Err(KfreeError::NotMemory(x)),
    }
    Ok(())
}

/// mm/slab_common.c `free_large_kmalloc`.
fn free_large_kmalloc(k: &Kernel, cpu: u32, page: NonNull<Page>, x: u64) -> Result<(), KfreeError> {
    // SAFETY: a struct page of the memmap.
    let (head, order) = unsafe {
        (
            crate::mm::page_alloc::PageHead(&*page.as_ptr()),
            crate::mm::page_alloc::compound_order(page.as_ptr()),
        )
    };
    if !head || order == 0 {
        crate::pr_warn!(k.printk, "object pointer: 0x{:016x}\n", x);
        return Err(KfreeError::NotKmalloc(x));
    }
    k.slab
        .nr_slab_unreclaimable_b
        .fetch_sub(4096 << order, Ordering::Relaxed);
    crate::mm::page_alloc::__free_pages_on(k, cpu, page, order);
    Ok(())
}

/// mm/slab_common.c `__ksize` / `ksize`: the usable size of a kmalloc object (0 for NULL,
/// ZERO_SIZE_PTR and what is not one).
pub fn ksize(k: &Kernel, x: u64) -> u64 {
    if zero_or_null_ptr(x) {
        return 0;
    }
    match a::virt_to_owner(k, x) {
        Owner::Slab(s, _) => {
            // SAFETY: a slab's cache is live.
            let s = unsafe { &*s };
            // slab_ksize.
            u64::from(
                if s.flags
                    .intersects(SlabFlags::SLAB_RED_ZONE | SlabFlags::SLAB_POISON)
                {
                    s.object_size
                } else if s
                    .flags
                    .intersects(SlabFlags::SLAB_TYPESAFE_BY_RCU | SlabFlags::SLAB_STORE_USER)
                {
                    s.inuse
                } else {
                    s.size
                },
            )
        }
        Owner::Pages(p) => {
            // SAFETY: a struct page of the memmap.
            let order = unsafe { crate::mm::page_alloc::compound_order(p.as_ptr()) };
            4096 << order
        }
        Owner::None => 0,
    }
}

/// mm/slab_common.c `krealloc` (6.6's `__do_krealloc`: in place when `ksize` covers the new
/// size, else a new object with the old bytes copied and the old one freed).
///
/// # Errors
/// The page allocator could not be called, or `p` is no kmalloc object.
///
/// # Safety
/// The host's CPU is held.
pub(crate) unsafe fn krealloc_on<H: SlabHost>(
    h: &mut H,
    p: u64,
    new_size: u64,
    gfp: Gfp,
) -> Result<u64, KreallocError> {
    if new_size == 0 {
        // SAFETY: forwarded.
        unsafe { kfree_on(h.k(), h.cpu(), p) }.map_err(KreallocError::Free)?;
        return Ok(ZERO_SIZE_PTR);
    }
    let form = h.k().slab.rules.krealloc;
    let zero = gfp.contains(Gfp::__GFP_ZERO);
    let ks = if p != ZERO_SIZE_PTR && p != 0 {
        let k = h.k();
        let fill = |at: u64, byte: u8, len: u64| {
            if let Some(d) = k.slab.map.host(at, len) {
                // SAFETY: simulated RAM inside the caller's object.
                unsafe { ptr::write_bytes(d, byte, len as usize) };
            }
        };
        match (form, a::virt_to_owner(k, p)) {
            (KreallocForm::OrigSize, Owner::Slab(s, _)) => {
                // SAFETY: the slab's cache is live.
                let s = unsafe { &*s };
                let ks = u64::from(s.object_size);
                let orig = u64::from(crate::mm::slub::debug::orig_size(&k.slab.map, s, p));
                if new_size <= ks {
                    if zero {
                        if orig < new_size {
                            fill(p + orig, 0, new_size - orig);
                        } else {
                            fill(p + new_size, 0, ks - new_size);
                        }
                    }
                    if crate::mm::slub::debug::has_orig_size(s) {
                        crate::mm::slub::debug::set_orig(&k.slab.map, s, p, new_size as u32);
                        if s.flags.contains(SlabFlags::SLAB_RED_ZONE) && new_size < ks {
                            fill(
                                p + new_size,
                                crate::mm::slub::debug::SLUB_RED_ACTIVE,
                                ks - new_size,
                            );
                        }
                    }
                    return Ok(p);
                }
                if orig != 0 {
                    orig
                } else {
                    ks
                }
            }
            _ => {
                let ks = ksize(k, p);
                if ks == 0 {
                    return Err(KreallocError::Free(KfreeError::NotKmalloc(p)));
                }
                if ks >= new_size {
                    if form != KreallocForm::InPlace && zero {
                        fill(p + new_size, 0, ks - new_size);
                    }
                    return Ok(p);
                }
                ks
            }
        }
    } else {
        0
    };
    // SAFETY: forwarded.
    let ret = unsafe { __do_kmalloc_node(h, new_size, gfp, -1) }.map_err(KreallocError::Alloc)?;
    if ret != 0 && ks != 0 {
        let k = h.k();
        if let (Some(dst), Some(src)) = (k.slab.map.host(ret, ks), k.slab.map.host(p, ks)) {
            // SAFETY: both ranges are simulated RAM; distinct objects do not overlap.
            unsafe { ptr::copy(src, dst, ks as usize) };
        }
        // SAFETY: forwarded.
        unsafe { kfree_on(k, h.cpu(), p) }.map_err(KreallocError::Free)?;
    }
    Ok(ret)
}

/// Why a krealloc failed outright.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KreallocError {
    Alloc(crate::mm::page_alloc::AllocError),
    Free(KfreeError),
}

// ----- kmem_cache_create / destroy ---------------------------------------------------------

/// Why `kmem_cache_create` returned NULL (the kernel warns "kmem_cache_create(%s) failed
/// with error %d").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// -EINVAL: bad size or flags.
    Invalid(&'static str),
    /// -ENOMEM.
    NoMemory,
    /// SLUB is not up yet.
    NotUp,
}

impl CreateError {
    fn errno(&self) -> i32 {
        match self {
            CreateError::Invalid(_) | CreateError::NotUp => -22,
            CreateError::NoMemory => -12,
        }
    }
}

/// `SLAB_FLAGS_PERMITTED` as far as bootmm models flags: every named flag but the internal
/// ones.
fn flags_permitted() -> SlabFlags {
    SlabFlags::all().difference(SlabFlags::__CMPXCHG_DOUBLE | SlabFlags::__OBJECT_POISON)
}

/// mm/slab_common.c `find_mergeable`.
fn find_mergeable(
    k: &Kernel,
    size: u32,
    align: u32,
    flags: SlabFlags,
    name: &str,
) -> Option<CachePtr> {
    let size = size.next_multiple_of(8);
    let align = a::calculate_alignment(flags, align, size);
    let size = size.next_multiple_of(align);
    let flags = k.slab.kmem_cache_flags(name, flags);
    if flags.intersects(SlabFlags::SLAB_NEVER_MERGE) {
        return None;
    }
    // list_for_each_entry_reverse: oldest first.
    for c in k.slab.caches_locked().into_iter().rev() {
        // SAFETY: listed caches are live.
        let s = unsafe { c.get() };
        let unmergeable = s.flags.intersects(SlabFlags::SLAB_NEVER_MERGE)
            || s.ctor != 0
            || s.usersize != 0
            || s.refcount < 0;
        if unmergeable
            || size > s.size
            || (flags & SlabFlags::SLAB_MERGE_SAME) != (s.flags & SlabFlags::SLAB_MERGE_SAME)
            || (s.size & !(align - 1)) != s.size
            || s.size - size >= 8
        {
            continue;
        }
        return Some(c);
    }
    None
}

/// mm/slab_common.c `kmem_cache_create` (`kmem_cache_create_usercopy` without a user
/// region): an alias of a mergeable cache, or a new cache on `slab_caches`.
///
/// # Errors
/// [`CreateError`], after the kernel's warning.
pub(crate) fn kmem_cache_create_on<H: SlabHost>(
    h: &mut H,
    name: &str,
    size: u32,
    align: u32,
    flags: SlabFlags,
) -> Result<CachePtr, CreateError> {
    let r = create_inner(h, name, size, align, flags);
    if let Err(e) = &r {
        crate::pr_warn!(
            h.k().printk,
            "kmem_cache_create({}) failed with error {}\n",
            name,
            e.errno()
        );
    }
    r
}

fn create_inner<H: SlabHost>(
    h: &mut H,
    name: &str,
    size: u32,
    align: u32,
    flags: SlabFlags,
) -> Result<CachePtr, CreateError> {
    if h.k().slab.state() < SlabState::Up {
        return Err(CreateError::NotUp);
    }
    if name.is_empty()
        || size == 0
        || u64::from(size) > (4096u64 << crate::mm::page_alloc::MAX_PAGE_ORDER)
    {
        return Err(CreateError::Invalid("size"));
    }
    if !flags.difference(flags_permitted()).is_empty() {
        return Err(CreateError::Invalid("flags"));
    }
    if align != 0 && !align.is_power_of_two() {
        return Err(CreateError::Invalid("align"));
    }
    let guard_k: *const Kernel = h.k();
    // SAFETY: the kernel outlives this call; the guard only serialises creators.
    let _g = unsafe { &*guard_k }.slab.mutex.lock();
    {
        let k = h.k();
        if let Some(c) = find_mergeable(k, size, align, flags, name) {
            // __kmem_cache_alias.
            let s = c.as_ptr();
            // SAFETY: a live cache; slab_mutex is held.
            unsafe {
                (*s).refcount += 1;
                (*s).object_size = (*s).object_size.max(size);
                (*s).inuse = (*s).inuse.max(size.next_multiple_of(8));
            }
            return Ok(c);
        }
    }
    let gfp = h.k().slab.gfp_kernel;
    let s = zalloc_cache(h, gfp).map_err(|_| CreateError::NoMemory)?;
    // SAFETY: a fresh zeroed cache object nobody else reaches.
    unsafe {
        (*s).set_name(name);
        (*s).size = size;
        (*s).object_size = size;
        (*s).align = a::calculate_alignment(flags, align, size);
        match a::kmem_cache_open(h, s, flags) {
            Ok(()) => {}
            Err(e) => {
                free_cache_object(h.k(), h.cpu(), s);
                return Err(match e {
                    OpenError::Sizes => CreateError::Invalid("size"),
                    _ => CreateError::NoMemory,
                });
            }
        }
        (*s).refcount = 1;
        link_cache(h.k(), s);
        Ok(CachePtr(NonNull::new_unchecked(s)))
    }
}

/// `kmem_cache_free(kmem_cache, s)`.
///
/// # Safety
/// `s` is an object of `kmem_cache` no one uses.
unsafe fn free_cache_object(k: &Kernel, cpu: u32, s: *mut KmemCache) {
    let va = k.slab.map.va(s.cast());
    if let Owner::Slab(c, slab) = a::virt_to_owner(k, va) {
        // SAFETY: forwarded.
        unsafe { a::do_slab_free(k, cpu, c, slab, va) };
    }
}

/// Why `kmem_cache_destroy` kept a cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestroyError {
    /// Objects are still allocated: the kernel's WARN ("Slab cache still has objects"),
    /// after the leak report. The cache stays on `slab_caches`.
    Busy,
    /// A boot cache (kmalloc, kmem_cache): the kernel never destroys them.
    BootCache,
    /// The handle names no live cache (already destroyed: the kernel's use after free).
    NotACache,
}

/// mm/slab_common.c `kmem_cache_destroy`: drop a reference; on the last, flush every CPU,
/// free the empty slabs, report leaks, and free the cache.
///
/// # Errors
/// [`DestroyError`].
pub fn kmem_cache_destroy(k: &mut Kernel, c: CachePtr) -> Result<(), DestroyError> {
    if k.kmem_cache(c).is_none() {
        return Err(DestroyError::NotACache);
    }
    let cpu = k.cpus.current();
    let k: &Kernel = k;
    let _g = k.slab.mutex.lock();
    let s = c.as_ptr();
    // SAFETY: the caller's handle names a listed (live) cache: the script layer and the
    // public API look it up first; the kernel is held exclusively, so no CPU runs.
    unsafe {
        if (*s).refcount < 0 || (*s).flags.contains(SlabFlags::SLAB_KMALLOC) {
            return Err(DestroyError::BootCache);
        }
        (*s).refcount -= 1;
        if (*s).refcount > 0 {
            return Ok(());
        }
        // __kmem_cache_shutdown: flush_all_cpus_locked, free_partial.
        for c in 0..k.cpus.nr_cpu_ids() {
            a::__flush_cpu_slab(k, c, s);
        }
        let mut busy = false;
        for (_, n) in a::cache_nodes(k, s).collect::<Vec<_>>() {
            a::free_partial(k, cpu, s, n);
            if (*n).nr_partial.load(Ordering::Relaxed) != 0
                || (*n).nr_slabs.load(Ordering::Relaxed) != 0
            {
                busy = true;
            }
        }
        if busy {
            (*s).refcount += 1;
            crate::pr_warn!(
                k.printk,
                "kmem_cache_destroy {}: Slab cache still has objects when called from bootmm+0x0/0x0\n",
                (*s).name()
            );
            return Err(DestroyError::Busy);
        }
        list_del(ptr::addr_of_mut!((*s).list));
        a::__kmem_cache_release(k, s);
        free_cache_object(k, cpu, s);
    }
    Ok(())
}

/// mm/slab_common.c `kmem_cache_shrink`: flush every CPU's slabs of the cache, free the
/// empty slabs and sort the partial lists. Needs the kernel exclusively (the kernel runs
/// the flush on each CPU from a workqueue; see docs/divergences.md).
pub fn kmem_cache_shrink(k: &mut Kernel, c: CachePtr) -> bool {
    if k.kmem_cache(c).is_none() {
        return false;
    }
    let cpu = k.cpus.current();
    let k: &Kernel = k;
    let s = c.as_ptr();
    // SAFETY: a live cache (the caller looked it up), no CPU running.
    unsafe {
        for c in 0..k.cpus.nr_cpu_ids() {
            a::__flush_cpu_slab(k, c, s);
        }
        a::__kmem_cache_do_shrink(k, cpu, s)
    }
}

/// Shrink every cache (the end state of `echo 1 > /sys/kernel/slab/*/shrink`).
pub fn kmem_cache_shrink_all(k: &mut Kernel) {
    for c in k.slab.caches() {
        kmem_cache_shrink(k, c);
    }
}

/// mm/slub.c `validate_slab_cache` (through `/sys/kernel/slab/<cache>/validate`): flush
/// and check every slab; the reports go to the log. Returns the slabs checked.
pub fn validate_slab_cache(k: &mut Kernel, c: CachePtr) -> u64 {
    if k.kmem_cache(c).is_none() {
        return 0;
    }
    let k: &Kernel = k;
    let s = c.as_ptr();
    // SAFETY: a live cache, no CPU running.
    unsafe {
        for c in 0..k.cpus.nr_cpu_ids() {
            a::__flush_cpu_slab(k, c, s);
        }
        crate::mm::slub::debug::validate_slab_cache(k, s)
    }
}

// ----- /proc/slabinfo ----------------------------------------------------------------------

/// One cache's `get_slabinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabInfo {
    pub name: String,
    pub active_objs: u64,
    pub num_objs: u64,
    pub objsize: u32,
    pub objperslab: u32,
    pub pagesperslab: u32,
    pub active_slabs: u64,
    pub num_slabs: u64,
}

/// mm/slub.c `get_slabinfo` for every cache on `slab_caches`, newest first.
pub fn get_slabinfo(k: &Kernel) -> Vec<SlabInfo> {
    let mut v = Vec::new();
    for c in k.slab.caches() {
        let s = c.as_ptr();
        // SAFETY: listed caches are live; the node counters are atomics and count_partial
        // takes the lock.
        unsafe {
            let (mut nr_slabs, mut nr_objs, mut nr_free) = (0i64, 0i64, 0u64);
            for (_, n) in a::cache_nodes(k, s) {
                nr_slabs += (*n).nr_slabs.load(Ordering::Relaxed);
                nr_objs += (*n).total_objects.load(Ordering::Relaxed);
                nr_free += a::count_partial_free(n);
            }
            let nr_objs = nr_objs.max(0) as u64;
            v.push(SlabInfo {
                name: String::from((*s).name()),
                active_objs: nr_objs.saturating_sub(nr_free),
                num_objs: nr_objs,
                objsize: (*s).size,
                objperslab: a::oo_objects((*s).oo),
                pagesperslab: 1 << a::oo_order((*s).oo),
                active_slabs: nr_slabs.max(0) as u64,
                num_slabs: nr_slabs.max(0) as u64,
            });
        }
    }
    v
}

/// `/proc/slabinfo` (slabinfo version 2.1, SLUB).
pub fn slabinfo(k: &Kernel) -> String {
    let mut out = String::new();
    out.push_str("slabinfo - version: 2.1\n");
    out.push_str("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n");
    for i in get_slabinfo(k) {
        let _ = writeln!(
            out,
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
            i.name, i.active_objs, i.num_objs, i.objsize, i.objperslab, i.pagesperslab, 0, 0, 0, i.active_slabs, i.num_slabs, 0
        );
    }
    out
}

// ----- Entry points ------------------------------------------------------------------------

impl Kernel {
    /// `kmalloc(size, gfp)` on the current CPU: the object's address, [`ZERO_SIZE_PTR`] for
    /// 0 bytes, 0 (NULL) when there is no memory.
    ///
    /// # Errors
    /// The page allocator could not be called (see [`crate::mm::page_alloc::AllocError`]).
    pub fn kmalloc(
        &mut self,
        size: u64,
        gfp: Gfp,
    ) -> Result<u64, crate::mm::page_alloc::AllocError> {
        if self.slab.state() < SlabState::Up {
            return Ok(0);
        }
        // SAFETY: the kernel is held exclusively, so its current CPU is ours.
        unsafe { __do_kmalloc_node(&mut Exclusive(self), size, gfp, -1) }
    }

    /// `kfree(x)` on the current CPU.
    ///
    /// # Errors
    /// [`KfreeError`] for what is no kmalloc object; nothing changes.
    pub fn kfree(&mut self, x: u64) -> Result<(), KfreeError> {
        let cpu = self.cpus.current();
        // SAFETY: as in `kmalloc`.
        unsafe { kfree_on(self, cpu, x) }
    }

    /// `krealloc(p, new_size, gfp)` on the current CPU.
    ///
    /// # Errors
    /// [`KreallocError`].
    pub fn krealloc(&mut self, p: u64, new_size: u64, gfp: Gfp) -> Result<u64, KreallocError> {
        // SAFETY: as in `kmalloc`.
        unsafe { krealloc_on(&mut Exclusive(self), p, new_size, gfp) }
    }

    /// `kmem_cache_create(name, size, align, flags, NULL)`.
    ///
    /// # Errors
    /// [`CreateError`].
    pub fn kmem_cache_create(
        &mut self,
        name: &str,
        size: u32,
        align: u32,
        flags: SlabFlags,
    ) -> Result<CachePtr, CreateError> {
        kmem_cache_create_on(&mut Exclusive(self), name, size, align, flags)
    }

    /// `kmem_cache_alloc(c, gfp)` on the current CPU (0: NULL).
    ///
    /// # Errors
    /// As [`Kernel::kmalloc`].
    pub fn kmem_cache_alloc(
        &mut self,
        c: CachePtr,
        gfp: Gfp,
    ) -> Result<u64, crate::mm::page_alloc::AllocError> {
        if self.slab.caches().iter().all(|&x| x != c) {
            return Ok(0);
        }
        // SAFETY: a listed cache; the kernel is held exclusively.
        unsafe { a::slab_alloc_node(&mut Exclusive(self), c.as_ptr(), gfp, -1, 0) }
    }

    /// `kmalloc_trace(c, gfp, size)` (6.6; `__kmalloc_cache_noprof` later): an object of
    /// kmalloc-style cache `c` for a request of `size` bytes (the orig_size slub_debug
    /// red-zones up to the object's end).
    ///
    /// # Errors
    /// As [`Kernel::kmalloc`].
    pub fn kmalloc_trace(
        &mut self,
        c: CachePtr,
        gfp: Gfp,
        size: u64,
    ) -> Result<u64, crate::mm::page_alloc::AllocError> {
        if self.kmem_cache(c).is_none() {
            return Ok(0);
        }
        // SAFETY: a listed cache; the kernel is held exclusively.
        let size = unsafe { size.min(u64::from((*c.as_ptr()).object_size)) } as u32;
        // SAFETY: as above.
        unsafe { a::slab_alloc_node(&mut Exclusive(self), c.as_ptr(), gfp, -1, size) }
    }

    /// `kmem_cache_free(c, x)` on the current CPU: `x` must be an object of `c` (SLUB's
    /// "cache_from_obj" check: a wrong cache is reported and the object freed to its own).
    ///
    /// # Errors
    /// As [`Kernel::kfree`].
    pub fn kmem_cache_free(&mut self, c: CachePtr, x: u64) -> Result<(), KfreeError> {
        if self.kmem_cache(c).is_some() {
            cache_from_obj(self, c, x);
        }
        self.kfree(x)
    }
}

/// mm/slub.c `cache_from_obj` (as with CONFIG_SLAB_FREELIST_HARDENED, which distribution
/// kernels enable): an object freed to a cache it is not from is reported; the free then
/// goes to the object's own cache. `dump_stack` and the tracking are not reproduced.
fn cache_from_obj(k: &Kernel, c: CachePtr, x: u64) {
    if let Owner::Slab(s, _) = a::virt_to_owner(k, x) {
        if s != c.as_ptr() {
            // SAFETY: `c` is live (the callers hold a live handle) and so is the cache of a
            // slab.
            let (want, got) = unsafe { ((*c.as_ptr()).name(), (*s).name()) };
            crate::pr_warn!(
                k.printk,
                "cache_from_obj: Wrong slab cache. {} but object is from {}\n",
                want,
                got
            );
        }
    }
}

impl<'k> crate::kernel::smp::Cpu<'k> {
    /// `kmalloc(size, gfp)` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::kmalloc`].
    #[inline]
    pub fn kmalloc(&self, size: u64, gfp: Gfp) -> Result<u64, crate::mm::page_alloc::AllocError> {
        let k = self.kernel();
        // Before the kmalloc caches exist, kmalloc_slab finds none and the result is NULL.
        // SAFETY: this handle holds the CPU.
        unsafe { __do_kmalloc_node(&mut OnCpu { k, cpu: self.id() }, size, gfp, -1) }
    }

    /// `kmalloc_node(size, gfp, node)` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::kmalloc`].
    pub fn kmalloc_node(
        &self,
        size: u64,
        gfp: Gfp,
        node: i32,
    ) -> Result<u64, crate::mm::page_alloc::AllocError> {
        let k = self.kernel();
        if k.slab.state() < SlabState::Up {
            return Ok(0);
        }
        // SAFETY: as above.
        unsafe { __do_kmalloc_node(&mut OnCpu { k, cpu: self.id() }, size, gfp, node) }
    }

    /// `kfree(x)` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::kfree`].
    #[inline]
    pub fn kfree(&self, x: u64) -> Result<(), KfreeError> {
        // SAFETY: this handle holds the CPU.
        unsafe { kfree_on(self.kernel(), self.id(), x) }
    }

    /// `krealloc(p, new_size, gfp)` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::krealloc`].
    pub fn krealloc(&self, p: u64, new_size: u64, gfp: Gfp) -> Result<u64, KreallocError> {
        // SAFETY: this handle holds the CPU.
        unsafe {
            krealloc_on(
                &mut OnCpu {
                    k: self.kernel(),
                    cpu: self.id(),
                },
                p,
                new_size,
                gfp,
            )
        }
    }

    /// `kmem_cache_alloc(c, gfp)` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::kmalloc`].
    #[inline]
    pub fn kmem_cache_alloc(
        &self,
        c: Cache<'k>,
        gfp: Gfp,
    ) -> Result<u64, crate::mm::page_alloc::AllocError> {
        let mut h = OnCpu {
            k: self.kernel(),
            cpu: self.id(),
        };
        // SAFETY: this handle holds the CPU; a `Cache<'k>` stays live while the kernel is
        // borrowed shared (destroying needs it exclusively).
        unsafe { a::slab_alloc_node(&mut h, c.ptr.as_ptr(), gfp, -1, 0) }
    }

    /// `kmem_cache_free(c, x)` on this CPU (`cache_from_obj`: an object of another cache
    /// is reported and freed to its own).
    ///
    /// # Errors
    /// As [`Kernel::kfree`].
    #[inline]
    pub fn kmem_cache_free(&self, c: Cache<'k>, x: u64) -> Result<(), KfreeError> {
        cache_from_obj(self.kernel(), c.ptr, x);
        self.kfree(x)
    }

    /// `kmem_cache_create` on this CPU.
    ///
    /// # Errors
    /// As [`Kernel::kmem_cache_create`].
    pub fn kmem_cache_create(
        &self,
        name: &str,
        size: u32,
        align: u32,
        flags: SlabFlags,
    ) -> Result<Cache<'k>, CreateError> {
        let mut h = OnCpu {
            k: self.kernel(),
            cpu: self.id(),
        };
        kmem_cache_create_on(&mut h, name, size, align, flags).map(|ptr| Cache {
            ptr,
            _k: core::marker::PhantomData,
        })
    }
}
