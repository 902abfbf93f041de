//! The state of one simulated kernel: its log, its call tree, its RAM and the globals that
//! boot fills in (`e820_table`, `memblock`, `max_pfn`, …).
//!
//! In the kernel these are global variables spread over many files. bootmm gathers them in
//! one value so that several machines can boot side by side in one process; each field keeps
//! the kernel's name.

pub mod printk;
pub mod smp;

use crate::arch::x86::e820::E820;
use crate::arch::x86::numa::Numa;
use crate::era::Era;
use crate::machine::Machine;
use crate::mm::memblock::Memblock;
use crate::mm::mm_init::memmap::Memmap;
use crate::mm::mm_init::ZoneLayout;
use crate::mm::page_alloc::PageAlloc;
use crate::mm::sparse::Sparse;
#[cfg(feature = "std")]
use crate::phys::PhysError;
use crate::phys::PhysMem;
use crate::printk::Printk;
use crate::trace::Trace;

/// Kernel parameters understood so far (parsed by `parse_early_param`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootParams {
    /// `memblock=debug`.
    pub memblock_debug: bool,
}

/// One simulated kernel.
pub struct Kernel {
    pub era: Era,
    pub machine: Machine,
    pub printk: Printk,
    pub trace: Trace,
    /// Simulated RAM.
    pub phys: PhysMem,
    /// `e820_table`, `e820_table_kexec`, `e820_table_firmware`.
    pub e820: E820,
    /// `memblock`.
    pub memblock: Memblock,
    pub params: BootParams,
    /// `max_pfn`: one past the last usable page frame.
    pub max_pfn: u64,
    /// `max_low_pfn`: one past the last directly mapped frame.
    pub max_low_pfn: u64,
    /// `max_possible_pfn`.
    pub max_possible_pfn: u64,
    /// `max_pfn_mapped`: the end of the direct map built so far.
    pub max_pfn_mapped: u64,
    /// i386 with HIGHMEM: `highstart_pfn` and `highend_pfn`, the HIGHMEM frames (0 on
    /// x86_64).
    pub highstart_pfn: u64,
    pub highend_pfn: u64,
    /// The direct map `init_mem_mapping` built (x86_64).
    pub direct_map: crate::arch::x86::init::DirectMap,
    /// The i386 kernel page tables (`swapper_pg_dir` and what hangs below it).
    pub pt32: crate::arch::x86::pgtable_32::Pt32,
    /// Nodes, as `initmem_init` found them.
    pub numa: Numa,
    /// `dma_reserve` (x86_64 `memblock_find_dma_reserve`, before 6.11).
    pub dma_reserve: u64,
    /// Nodes and zones as `free_area_init` sized them.
    pub zones: Option<ZoneLayout>,
    /// `mem_section` and the vmemmap, as `sparse_init` built them. The allocator's struct
    /// page pointers come from it: read it through [`Kernel::sparse`].
    pub(crate) sparse: Sparse,
    /// 2.6 (`EarlyAllocator::Bootmem`): `early_res[]`, the named reservations made before
    /// the bootmem bitmaps existed.
    pub early_res: crate::arch::x86::early_res::EarlyRes,
    /// 2.6 (`EarlyAllocator::Bootmem`): the bitmap allocator, from `setup_node_bootmem` /
    /// `setup_bootmem_allocator` until `mem_init` hands its free pages over. `None` before,
    /// and in every later era.
    pub bootmem: Option<crate::mm::bootmem::Bootmem>,
    /// FLATMEM kernels (i386): the memblock of the shadow window above the machine's RAM
    /// that holds bootmm's section table and struct pages ([`crate::mm::sparse::flatmem_shadow`]).
    pub(crate) flatmem_shadow: Option<crate::mm::memblock::Memblock>,
    /// FLATMEM: node 0's `node_mem_map` (physical address) and its first pfn.
    pub(crate) flatmem_node_mem_map: Option<(u64, u64)>,
    /// i386 HIGHMEM: the pkmap and fixmap slots `kmap` and `kmap_atomic` use.
    pub(crate) highmem: crate::mm::highmem::Highmem,
    /// What `memmap_init` initialised and what it deferred (`first_deferred_pfn`).
    pub memmap: Memmap,
    /// The percpu first chunk (`setup_per_cpu_areas`).
    pub percpu: crate::mm::percpu::FirstChunk,
    /// The zones' free lists and the buddy allocator's globals (`node_data[]`,
    /// `totalram_pages`). Struct pages in simulated RAM link to its free-list heads, so it
    /// is never replaced from outside: read it through [`Kernel::page_alloc`].
    pub(crate) page_alloc: PageAlloc,
    /// The page allocator's tunables and totals (`min_free_kbytes`, …).
    pub vm: crate::mm::page_alloc_init::VmGlobals,
    /// The log buffer's size and blocks (kernel/printk/printk.c).
    pub log_buf: printk::LogBuf,
    /// `jiffies`: the model's clock, which moves only when the model lets time pass.
    pub jiffies: crate::klib::ratelimit::Jiffies,
    /// The possible CPUs, their `current` tasks, and which one the `&mut Kernel` calls run on.
    pub cpus: smp::Cpus,
    /// The slab allocator's globals (mm/slab_common.c, mm/slub.c).
    pub slab: crate::mm::slab_common::SlabCommon,
    /// The vmalloc allocator's globals (mm/vmalloc.c).
    pub vmalloc: crate::mm::vmalloc::Vmalloc,
}

/// Bytes of physical address space a `--bare` kernel backs (the kernel's memblock tests use
/// 16 MiB of `malloc`; bare scripts may place memory anywhere below this).
pub const BARE_PHYS_END: u64 = 64 << 30;

impl Kernel {
    /// The buddy allocator's state (read only: its zones are linked from simulated RAM).
    pub fn page_alloc(&self) -> &PageAlloc {
        &self.page_alloc
    }

    /// The sections table and the vmemmap (read only).
    pub fn sparse(&self) -> &Sparse {
        &self.sparse
    }

    /// A kernel for `machine`, before `start_kernel`: simulated RAM mapped from 0 to the end
    /// of the physical address space it can use ([`Machine::phys_end`]), everything else empty.
    #[cfg(feature = "std")]
    pub fn new(machine: Machine) -> Result<Self, PhysError> {
        let end = crate::mm::sparse::flatmem_shadow_window(&machine)
            .map_or(machine.phys_end(), |(base, size)| base + size);
        let phys = PhysMem::map_host(end)?;
        Ok(Self::with_phys(machine, phys))
    }

    /// A kernel on memory the caller provides. The command line is cut to what the kernel
    /// keeps of it (`COMMAND_LINE_SIZE`).
    pub fn with_phys(mut machine: Machine, mut phys: PhysMem) -> Self {
        if !machine.era.is_64bit() {
            // i386's direct map: PAGE_OFFSET 0xc0000000 (VMSPLIT_3G), lowmem only.
            phys.set_page_offset(crate::arch::x86::pgtable_32_types::PAGE_OFFSET);
        }
        let kept = crate::machine::kernel_cmdline(&machine.cmdline).len();
        machine.cmdline.truncate(kept);
        let era = machine.era.clone();
        let cpus = smp::Cpus::new(machine.cpus);
        let printk = Printk::new();
        let trace = Trace::new();
        let e820 = E820::new(era.clone(), printk.clone());
        let memblock = Memblock::new(
            era.clone(),
            printk.clone(),
            trace.clone(),
            Some(phys.clone()),
        );
        Kernel {
            era,
            machine,
            printk,
            trace,
            phys,
            e820,
            memblock,
            params: BootParams::default(),
            max_pfn: 0,
            max_low_pfn: 0,
            highstart_pfn: 0,
            highend_pfn: 0,
            max_possible_pfn: 0,
            max_pfn_mapped: 0,
            direct_map: Default::default(),
            pt32: Default::default(),
            numa: Numa::default(),
            dma_reserve: 0,
            zones: None,
            sparse: Sparse::default(),
            flatmem_shadow: None,
            early_res: Default::default(),
            bootmem: None,
            flatmem_node_mem_map: None,
            highmem: Default::default(),
            memmap: Memmap::default(),
            percpu: Default::default(),
            page_alloc: PageAlloc::default(),
            vm: Default::default(),
            log_buf: Default::default(),
            jiffies: Default::default(),
            cpus,
            slab: Default::default(),
            vmalloc: Default::default(),
        }
    }

    /// A bare kernel as the kernel's memblock test suite runs it: no machine, empty memblock,
    /// and physical memory below [`BARE_PHYS_END`] backed lazily.
    #[cfg(feature = "std")]
    pub fn bare(era: Era) -> Result<Self, PhysError> {
        let phys = PhysMem::map_host(BARE_PHYS_END)?;
        let mut m = Machine::empty();
        m.era = era;
        Ok(Self::with_phys(m, phys))
    }
}
