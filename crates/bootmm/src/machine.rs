//! A machine description: everything firmware, bootloader, build and command line decide
//! before the kernel runs its first memory-management line.
//!
//! The kernel learns these facts from `boot_params` (the e820 map, the initrd), from its own
//! build (NR_CPUS, the image's section sizes) and from the command line. bootmm takes them
//! as one value, built from a preset, from `--mem/--cpus`, from an e820 file, from a real
//! boot log, or from the host. Nothing in here is computed by the model.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::x86::e820::{E820Entry, E820Type, LegacyMemSize};
use crate::era::Era;

/// The kernel image as the linker laid it out (`_text` … `_end`), and the section sizes
/// the "Memory:" line reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// Physical address of `_text` (CONFIG_PHYSICAL_START, 16 MiB by default; no KASLR).
    pub phys_start: u64,
    /// `_etext - _stext` (kernel code), bytes.
    pub text: u64,
    /// `_edata - _sdata` less init and rodata overlap (rwdata), bytes.
    pub rwdata: u64,
    /// `__end_rodata - __start_rodata`, bytes.
    pub rodata: u64,
    /// `__init_end - __init_begin`, bytes.
    pub init: u64,
    /// `__bss_stop - __bss_start`, bytes.
    pub bss: u64,
    /// End of what `early_reserve_memory` reserves (`__end_of_kernel_reserve`), when known
    /// exactly (a memblock=debug log prints it). Otherwise derived by [`KernelImage::reserve_end`].
    pub reserve_end: Option<u64>,
    /// Size of the real-mode trampoline blob (`real_mode_size_needed()`), which
    /// `reserve_real_mode` places below 1 MiB. A build fact: memblock=debug logs print it
    /// (7 pages in current x86_64 kernels).
    pub realmode_size: u64,
}

/// `real_mode_size_needed()` of a typical x86_64 build of `era`: memblock=debug logs print
/// it (`reserve_real_mode` reserves 6 pages in a 4.9 log, 7 in 6.6 after the trampoline
/// grew; the release in between is an estimate, see docs/divergences.md).
pub fn default_realmode_size(era: &Era) -> u64 {
    if era.at_least(5, 10) {
        7 << 12
    } else {
        6 << 12
    }
}

/// `PMD_SIZE` on x86_64: the kernel's sections are 2 MiB aligned where the linker script says so.
const PMD_SIZE: u64 = 2 << 20;

/// Where the image's sections lie, physically (an estimate: see [`KernelImage::layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    pub text_end: u64,
    pub rodata_start: u64,
    pub rodata_end: u64,
    /// `_sdata`: `.data` starts with the init task's stack and the page-aligned data
    /// (`init_top_pgt` among it).
    pub data_start: u64,
    pub data_end: u64,
    pub init_start: u64,
    pub init_end: u64,
    pub bss_end: u64,
}

impl KernelImage {
    /// The sections laid out the way arch/x86/kernel/vmlinux.lds.S does on x86_64: text,
    /// rodata and data each start on a 2 MiB boundary, init and bss on a page. This is an
    /// estimate (the linker adds tables the "Memory:" line does not count); see
    /// docs/divergences.md.
    pub fn layout(&self) -> ImageLayout {
        use crate::include::addr::{page_align, round_up};
        let text_end = self.phys_start + self.text;
        let rodata_start = round_up(text_end, PMD_SIZE);
        let rodata_end = rodata_start + self.rodata;
        let data_start = round_up(rodata_end, PMD_SIZE);
        let data_end = data_start + self.rwdata;
        let init_start = page_align(data_end);
        let init_end = init_start + self.init;
        let bss_end = page_align(init_end) + self.bss;
        ImageLayout {
            text_end,
            rodata_start,
            rodata_end,
            data_start,
            data_end,
            init_start,
            init_end,
            bss_end,
        }
    }

    /// The physical end of the reserved image: a log's exact figure, else the
    /// [`KernelImage::layout`] estimate rounded to 2 MiB.
    pub fn reserve_end(&self) -> u64 {
        if let Some(e) = self.reserve_end {
            return e;
        }
        crate::include::addr::round_up(self.layout().bss_end, PMD_SIZE)
    }
}

/// One "Freeing %s memory: %ldK" of the kernel's after its initcalls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LateFree {
    /// The `%s`: "initrd", "unused kernel image (initmem)", "unused kernel", ….
    pub what: String,
    pub kbytes: u64,
}

/// Which hypervisor the kernel detects (`Hypervisor detected: …`); some eras act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    Kvm,
    Xen,
    VMware,
    HyperV,
    Other,
}

/// What the BIOS leaves in its data area for `reserve_bios_regions` (arch/x86/kernel/ebda.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiosDataArea {
    /// The word at 0x413: KiB of conventional memory below the EBDA.
    pub base_mem_kb: u16,
    /// The EBDA segment at 0x40e (physical address >> 4); 0 when there is none.
    pub ebda_segment: u16,
}

/// Build facts of the kernel image that shape memory layout but are never printed on their
/// own (Kconfig choices and structure sizes). A log reveals some of them indirectly; see
/// `shared/spec/log-inputs-and-predictions.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelConfig {
    /// CONFIG_ZONE_DMA.
    pub zone_dma: bool,
    /// CONFIG_ZONE_DMA32 (x86_64 only).
    pub zone_dma32: bool,
    /// CONFIG_HIGHMEM (i386 only).
    pub highmem: bool,
    /// CONFIG_ZONE_DEVICE: the "Device" zone, printed "empty" at boot.
    pub zone_device: bool,
    /// CONFIG_NUMA.
    pub numa: bool,
    /// CONFIG_NUMA_EMU: `numa=fake=` works (distribution "generic" x86_64 builds have it;
    /// Debian's cloud kernels do not).
    pub numa_emu: bool,
    /// `sizeof(struct page)`: 64 on x86_64 SLUB builds, 56 on older SLAB builds, 32/40 on i386.
    pub struct_page_size: u64,
    /// `sizeof(pg_data_t)` (depends on NODES_SHIFT, NR_CPUS and many options).
    pub pglist_data_size: u64,
    /// CONFIG_DEFERRED_STRUCT_PAGE_INIT.
    pub deferred_struct_page_init: bool,
    /// CONFIG_MEMORY_HOTREMOVE (usemaps are placed in their node's pg_data_t section).
    pub memory_hotremove: bool,
    /// CONFIG_CMA: MIGRATE_CMA exists (Debian, Ubuntu and CentOS builds; RHEL 8 and
    /// ChromeOS builds lack it, as their /proc/pagetypeinfo shows).
    pub cma: bool,
    /// CONFIG_MEMORY_ISOLATION: MIGRATE_ISOLATE exists.
    pub memory_isolation: bool,
    /// CONFIG_LOG_BUF_SHIFT: the static log buffer is `1 << shift` bytes.
    pub log_buf_shift: u32,
    /// CONFIG_LOG_CPU_MAX_BUF_SHIFT (3.17+): each extra possible CPU's share of the log.
    pub log_cpu_max_buf_shift: u32,
    /// CONFIG_TRANSPARENT_HUGEPAGE and its boot default (`transparent_hugepage=` on the
    /// command line overrides it); `None`: built without THP.
    pub thp: Option<ThpMode>,
    /// `__per_cpu_end - __per_cpu_start`: the kernel's static per-CPU data, bytes (the `s`
    /// of a log's "percpu: Embedded" line).
    pub percpu_static_size: u64,
    /// `PERCPU_FIRST_CHUNK_RESERVE`: room for modules' static per-CPU data (the `r`:
    /// PERCPU_MODULE_RESERVE, 8 KiB, on x86_64 with CONFIG_MODULES; 0 on i386).
    pub percpu_reserved_size: u64,
}

/// The THP policy at boot (`CONFIG_TRANSPARENT_HUGEPAGE_ALWAYS` / `_MADVISE` / `_NEVER`, or
/// `transparent_hugepage=`). With `always` or `madvise` khugepaged starts at boot and
/// raises `min_free_kbytes` (`set_recommended_min_free_kbytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpMode {
    Always,
    Madvise,
    Never,
}

impl ThpMode {
    /// khugepaged runs (`hugepage_pmd_enabled()` / `khugepaged_enabled()`).
    pub fn khugepaged(self) -> bool {
        self != ThpMode::Never
    }

    /// `setup_transparent_hugepage`'s words.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "always" => Some(ThpMode::Always),
            "madvise" => Some(ThpMode::Madvise),
            "never" => Some(ThpMode::Never),
            _ => None,
        }
    }
}

impl KernelConfig {
    /// A typical distribution x86 build of `era`.
    pub fn typical(era: &Era) -> Self {
        let x86_64 = era.is_64bit();
        KernelConfig {
            zone_dma: true,
            zone_dma32: x86_64,
            highmem: !x86_64,
            // ZONE_DEVICE appeared in 4.3 and distributions enable it on x86_64.
            zone_device: x86_64 && era.at_least(4, 3),
            numa: x86_64,
            numa_emu: x86_64,
            struct_page_size: if x86_64 { 64 } else { 32 },
            // A build input, not a prediction: sizeof(pg_data_t) of one real 6.18 x86_64
            // distribution build (NODES_SHIFT=10: its two zonelists of MAX_NUMNODES *
            // MAX_NR_ZONES entries dominate it), read off that kernel's NODE_DATA line.
            // A log supplies its own build's size instead; the i386 figure is an estimate.
            // See docs/divergences.md.
            pglist_data_size: if x86_64 { 0x2ab00 } else { 0x3000 },
            deferred_struct_page_init: x86_64 && era.at_least(4, 2),
            memory_hotremove: x86_64,
            cma: true,
            memory_isolation: true,
            // The Kconfig defaults (distributions differ: Ubuntu uses 18).
            log_buf_shift: 17,
            log_cpu_max_buf_shift: 12,
            // THP came in 2.6.38; distributions build it, with the Kconfig default
            // TRANSPARENT_HUGEPAGE_ALWAYS (Debian, RHEL; Ubuntu picks madvise, which starts
            // khugepaged just the same).
            thp: (era.version >= crate::era::KernelVersion::new(2, 6, 38))
                .then_some(ThpMode::Always),
            // One real build's static per-CPU size per era (a 6.6 QEMU memblock=debug log,
            // a 4.4 and a 3.19 log); a log supplies its own.
            percpu_static_size: if era.at_least(5, 0) {
                183016
            } else if era.at_least(4, 0) {
                98008
            } else {
                86720
            },
            percpu_reserved_size: if x86_64 { 8 << 10 } else { 0 },
        }
    }
}

/// Build facts known for this machine (from a log, or given by the user); the rest come
/// from [`KernelConfig::typical`] for the machine's era.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFacts {
    /// (zone_dma, zone_dma32, highmem, zone_device), e.g. from a log's "Zone ranges:" names.
    pub zones: Option<(bool, bool, bool, bool)>,
    pub numa: Option<bool>,
    /// CONFIG_NUMA_EMU, e.g. from a log that refused `numa=fake=`.
    pub numa_emu: Option<bool>,
    pub struct_page_size: Option<u64>,
    pub pglist_data_size: Option<u64>,
    pub deferred_struct_page_init: Option<bool>,
    pub memory_hotremove: Option<bool>,
    /// `INIT_PGT_BUF_SIZE / PAGE_SIZE`: the brk buffer for the first direct-map page tables.
    pub init_pgt_buf_pages: Option<u64>,
    /// CONFIG_LOG_BUF_SHIFT.
    pub log_buf_shift: Option<u32>,
    /// CONFIG_LOG_CPU_MAX_BUF_SHIFT.
    pub log_cpu_max_buf_shift: Option<u32>,
    /// The static and reserved per-CPU sizes (a log's "Embedded" line: `s` and `r`).
    pub percpu_sizes: Option<(u64, u64)>,
    /// i386: the permanent fixmap slots (`__end_of_permanent_fixed_addresses`), which a
    /// log's "fixmap  : 0x… - 0xfffff000" line gives.
    pub fixmap_slots: Option<u64>,
}

/// A machine description.
#[derive(Clone, Debug)]
pub struct Machine {
    /// A short name for reports ("qemu-4g", a log's file name, …).
    pub name: String,
    /// The kernel being booted.
    pub era: Era,
    /// The kernel's build facts that are known; see [`Machine::kernel_config`].
    pub config: ConfigFacts,
    /// The firmware's e820 map, as handed over in boot_params (unsorted, possibly overlapping).
    pub e820: Vec<E820Entry>,
    /// Possible CPUs (nr_cpu_ids).
    pub cpus: u32,
    /// CONFIG_NR_CPUS.
    pub nr_cpus: u32,
    /// The kernel image.
    pub image: KernelImage,
    /// The initrd (`RAMDISK: [mem …]`): start and size in bytes.
    pub initrd: Option<(u64, u64)>,
    /// What the kernel freed after the initcalls ("Freeing %s memory: %ldK" lines after the
    /// "Memory:" line of a log: the initrd, the init sections, the image's alignment gaps),
    /// in the order it freed them. Empty: none known.
    pub late_frees: Vec<LateFree>,
    /// The kernel command line.
    pub cmdline: String,
    /// The hypervisor the kernel detects, if any.
    pub hypervisor: Option<Hypervisor>,
    /// The BIOS data area; `None` on platforms without a legacy BIOS (the kernel then skips it).
    pub bda: Option<BiosDataArea>,
    /// INT 15h AH=88h / AX=E801h sizes, only used when the e820 map is unusable.
    pub legacy_mem: Option<LegacyMemSize>,
    /// The boot loader's setup_data chain: `(physical address, length including header)`
    /// of each blob, in chain order (`e820__reserve_setup_data` retypes them).
    pub setup_data: Vec<(u64, u64)>,
    /// e820 changes the firmware or platform code dictates, read from a real log (EFI,
    /// MTRR trimming, setup_data when the blobs themselves are unknown, …), in log order.
    /// The kernel's own low-memory fixups are never in here: the model computes those.
    pub e820_ops: Vec<E820LogOp>,
    /// The ACPI SRAT/SLIT the firmware provides; `None` when it has no SRAT.
    pub srat: Option<FirmwareNuma>,
    /// The virtual address `FIX_APIC_BASE` maps the local APIC at (a log's "mapped APIC to"
    /// line, printed with `apic=debug`): it depends on the fixmap layout of the build.
    /// `None`: not known (taken to lie in the statically allocated fixmap page table).
    pub apic_fixmap: Option<u64>,
    /// The node of each logical CPU, where known: `(cpu, node)` as the SMP bring-up lines
    /// (".... node  #N, CPUs:   #a #b") show them. They stand in for the firmware's MADT
    /// order, which decides which APIC (and so which SRAT node) each logical CPU gets.
    pub cpu_nodes: Vec<(u32, u32)>,
    /// `sysctl` settings applied as boot finishes (`vm.min_free_kbytes`,
    /// `vm.watermark_scale_factor`, `vm.lowmem_reserve_ratio`), in the order given.
    pub sysctl: Vec<(String, String)>,
    /// Whether the CPU has 1 GiB pages (`X86_FEATURE_GBPAGES`, cpuinfo's `pdpe1gb`);
    /// `None`: not known (1 GiB pages assumed).
    pub cpu_gbpages: Option<bool>,
    /// Whether memory KASLR is on (4.8+); `None`: the era's default for the command line.
    pub kaslr: Option<bool>,
    /// Where the brk page-table buffer starts, when a log shows it (`BRK [...] PGTABLE`).
    pub pgt_buf_at: Option<u64>,
    /// How many brk page-table pages `init_mem_mapping` used, when a log shows it.
    pub pgt_buf_used: Option<u64>,
    /// 2.6.30–2.6.33: the bytes `extend_brk` handed out before `reserve_brk` (DMI's
    /// tables), when a log's early reservations show them ("BRK"). `None`: none.
    pub brk_used: Option<u64>,
    /// Work out which of the inputs left open (GB pages, memory KASLR, the brk buffer)
    /// decide a predicted line, for `bootmm check`: `init_mem_mapping` then also maps under
    /// their other values on a quiet copy of memblock. A plain boot needs none of that.
    pub explain_inputs: bool,
}

/// One memory affinity entry of the ACPI SRAT: `[start, end)` belongs to proximity domain
/// `pxm`, which the kernel numbers as node `nid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SratMemory {
    pub pxm: u32,
    /// The node the kernel maps `pxm` to (`acpi_map_pxm_to_node`, as a log prints it).
    pub nid: u32,
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
    /// ACPI_SRAT_MEM_HOT_PLUGGABLE.
    pub hotplug: bool,
    /// ACPI_SRAT_MEM_NON_VOLATILE.
    pub nonvolatile: bool,
}

/// One processor (x2)APIC affinity entry of the SRAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SratCpu {
    pub pxm: u32,
    pub apic: u32,
    /// The node the kernel maps `pxm` to.
    pub nid: u32,
}

/// The firmware's NUMA description: the ACPI SRAT (CPU and memory affinity, in table order)
/// and, if present, the SLIT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirmwareNuma {
    pub cpus: Vec<SratCpu>,
    pub memory: Vec<SratMemory>,
    pub slit: Option<Slit>,
}

/// The ACPI SLIT: a `localities` x `localities` matrix of relative distances, indexed by
/// proximity domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slit {
    pub localities: u32,
    pub entry: Vec<u8>,
}

impl Slit {
    /// A SLIT with the ACPI defaults: 10 on the diagonal, 20 elsewhere.
    pub fn uniform(localities: u32) -> Self {
        let n = localities as usize;
        let entry = (0..n * n)
            .map(|i| if i / n == i % n { 10 } else { 20 })
            .collect();
        Slit { localities, entry }
    }

    /// Set the distance between two proximity domains, both ways.
    pub fn set(&mut self, a: u32, b: u32, d: u8) -> Result<(), String> {
        let n = self.localities;
        if a >= n || b >= n {
            return Err(format!(
                "distance {a},{b}: the SLIT has localities 0..{}",
                n.saturating_sub(1)
            ));
        }
        if (a == b && d != 10) || (a != b && d <= 10) {
            return Err(format!(
                "distance {a},{b}={d}: local distance must be 10 and remote ones above 10"
            ));
        }
        self.entry[(a * n + b) as usize] = d;
        self.entry[(b * n + a) as usize] = d;
        Ok(())
    }
}

/// `MAX_PXM_DOMAINS` (include/acpi/acpi_numa.h): proximity domains the kernel maps to nodes.
pub const MAX_PXM_DOMAINS: u32 = 256;

impl FirmwareNuma {
    /// Check a node description for what ACPI itself forbids or the model cannot take.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = self
            .memory
            .iter()
            .map(|m| m.pxm)
            .chain(self.cpus.iter().map(|c| c.pxm))
            .find(|&p| p >= MAX_PXM_DOMAINS)
        {
            return Err(format!(
                "SRAT proximity domain {p}: the kernel maps at most {MAX_PXM_DOMAINS} (MAX_PXM_DOMAINS)"
            ));
        }
        if let Some(s) = &self.slit {
            if s.localities > MAX_PXM_DOMAINS {
                return Err(format!(
                    "a SLIT of {} localities: the kernel takes at most {MAX_PXM_DOMAINS}",
                    s.localities
                ));
            }
        }
        for m in &self.memory {
            if m.end <= m.start {
                return Err(format!(
                    "node {}: range [{:#x}-{:#x}) is empty",
                    m.nid, m.start, m.end
                ));
            }
        }
        let max = crate::mm::memblock::MAX_NUMNODES as u32;
        if let Some(n) = self
            .memory
            .iter()
            .map(|m| m.nid)
            .chain(self.cpus.iter().map(|c| c.nid))
            .find(|&n| n >= max)
        {
            return Err(format!(
                "node {n}: this kernel build has MAX_NUMNODES {max} (NODES_SHIFT 6)"
            ));
        }
        Ok(())
    }
}

/// One `e820: update …` / `e820: remove …` a real boot printed that the model cannot derive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E820LogOp {
    /// Start of the range.
    pub start: u64,
    /// Exclusive end of the range.
    pub end: u64,
    /// What was done.
    pub kind: E820OpKind,
    /// Where in the boot it happened, relative to the kernel's own e820 steps.
    pub stage: E820OpStage,
    /// 1-based line number in the source log, for reports.
    pub line: usize,
}

/// The operation of an [`E820LogOp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820OpKind {
    /// `e820__range_update(start, size, old, new)`.
    Update { old: E820Type, new: E820Type },
    /// `e820__range_remove(start, size, old, check_type)`; `old` is `None` when unchecked.
    Remove { old: Option<E820Type> },
}

/// When an [`E820LogOp`] applies, relative to the kernel's own e820 steps in `setup_arch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820OpStage {
    /// Before `trim_bios_range` (setup_data, EFI memory-map quirks).
    BeforeTrimBios,
    /// After the first `max_pfn = e820__end_of_ram_pfn()` (MTRR trimming, which the kernel
    /// follows with a second `last_pfn` line).
    AfterMaxPfn,
    /// After `max_low_pfn` was computed (late platform quirks).
    Late,
}

impl Machine {
    /// The kernel's build facts: those known for this machine, the rest typical for its era.
    pub fn kernel_config(&self) -> KernelConfig {
        let mut c = KernelConfig::typical(&self.era);
        let f = &self.config;
        if let Some((dma, dma32, high, dev)) = f.zones {
            c.zone_dma = dma;
            c.zone_dma32 = dma32;
            c.highmem = high;
            c.zone_device = dev;
        }
        if let Some(v) = f.numa {
            c.numa = v;
        }
        if let Some(v) = f.numa_emu {
            c.numa_emu = v;
        }
        if let Some(v) = f.struct_page_size {
            c.struct_page_size = v;
        }
        if let Some(v) = f.pglist_data_size {
            c.pglist_data_size = v;
        }
        if let Some(v) = f.deferred_struct_page_init {
            c.deferred_struct_page_init = v;
        }
        if let Some(v) = f.memory_hotremove {
            c.memory_hotremove = v;
        }
        if let Some(v) = f.log_buf_shift {
            c.log_buf_shift = v;
        }
        if let Some(v) = f.log_cpu_max_buf_shift {
            c.log_cpu_max_buf_shift = v;
        }
        if let Some((s, r)) = f.percpu_sizes {
            c.percpu_static_size = s;
            c.percpu_reserved_size = r;
        }
        c
    }

    /// The end of the physical address space this machine's kernel can touch: the highest
    /// e820 entry, the kernel image and initrd (which `e820_add_kernel_range` may turn into RAM),
    /// and RAM that `memmap=nn@ss` adds, but no further than the architecture maps
    /// (`MAX_ARCH_PFN`: the kernel caps `max_pfn` there, and never touches RAM above it).
    pub fn phys_end(&self) -> u64 {
        self.phys_end_uncapped()
            .min(self.era.max_arch_pfn() << crate::include::PAGE_SHIFT)
    }

    /// [`Machine::phys_end`] before the architecture's cap.
    fn phys_end_uncapped(&self) -> u64 {
        let mut end = self
            .e820
            .iter()
            .map(|e| e.addr.saturating_add(e.size))
            .max()
            .unwrap_or(0);
        end = end.max(self.image.reserve_end());
        if let Some((start, size)) = self.initrd {
            end = end.max(start.saturating_add(size));
        }
        for v in crate::klib::cmdline::early_param_values(&self.cmdline, "memmap")
            .into_iter()
            .flatten()
        {
            for one in v.split(',') {
                let (size, rest) = crate::klib::cmdline::memparse(one);
                if let Some(at) = rest.strip_prefix('@') {
                    let (start, _) = crate::klib::cmdline::memparse(at);
                    end = end.max(start.saturating_add(size));
                }
            }
        }
        end
    }

    /// A machine with no memory at all (the starting point of `--bare` scripts).
    pub fn empty() -> Self {
        Machine {
            name: String::from("bare"),
            era: Era::default(),
            config: ConfigFacts::default(),
            e820: Vec::new(),
            cpus: 1,
            nr_cpus: 1,
            image: KernelImage {
                phys_start: 0x100_0000,
                text: 0,
                rwdata: 0,
                rodata: 0,
                init: 0,
                bss: 0,
                reserve_end: Some(0x100_0000),
                realmode_size: 0,
            },
            initrd: None,
            late_frees: Vec::new(),
            cmdline: String::new(),
            hypervisor: None,
            bda: None,
            legacy_mem: None,
            setup_data: Vec::new(),
            e820_ops: Vec::new(),
            sysctl: Vec::new(),
            srat: None,
            apic_fixmap: None,
            cpu_nodes: Vec::new(),
            cpu_gbpages: None,
            kaslr: None,
            pgt_buf_at: None,
            pgt_buf_used: None,
            brk_used: None,
            explain_inputs: false,
        }
    }
}

/// The largest `CONFIG_NR_CPUS` an x86 build can have (arch/x86/Kconfig: 8192 with MAXSMP
/// on x86_64, 512 with X86_BIGSMP on i386).
pub fn nr_cpus_limit(era: &Era) -> u32 {
    if era.is_64bit() {
        8192
    } else {
        512
    }
}

/// x86's `COMMAND_LINE_SIZE`: the kernel keeps at most this many bytes of its command line,
/// the terminating NUL included (`strscpy` in setup_arch).
pub const COMMAND_LINE_SIZE: usize = 2048;

/// The command line as the kernel keeps it: cut to `COMMAND_LINE_SIZE - 1` bytes (at a
/// character boundary: bootmm's command lines are text).
pub fn kernel_cmdline(cmdline: &str) -> &str {
    if cmdline.len() < COMMAND_LINE_SIZE {
        return cmdline;
    }
    let mut end = COMMAND_LINE_SIZE - 1;
    while !cmdline.is_char_boundary(end) {
        end -= 1;
    }
    &cmdline[..end]
}

/// `CONFIG_NR_CPUS` when nothing says otherwise: the x86_64 Kconfig default without
/// MAXSMP (`NR_CPUS_DEFAULT` 64). Distribution kernels use far larger values (a log's
/// `setup_percpu: NR_CPUS:` line gives the real one).
pub const DEFAULT_NR_CPUS: u32 = 64;

/// Default kernel image section sizes, in bytes, taken from the "Memory:" line of the 6.18
/// KVM guest in `corpus/host/dmesg-6.18-host.txt` (the default era): 18470K kernel code,
/// 2544K rwdata, 10280K rodata, 3728K init, 1168K bss. They are build facts, not computed.
pub const DEFAULT_IMAGE_K: [u64; 5] = [18470, 2544, 10280, 3728, 1168];

/// The same for an i386 kernel, from the "Memory:" line of Ubuntu's 4.15 i386 build in
/// `corpus/dmesg/056-virtualbox-i386-highmem-2g-4.15.txt`: 9019K code, 895K rwdata, 3468K
/// rodata, 1112K init, 860K bss.
pub const DEFAULT_IMAGE_K_I386: [u64; 5] = [9019, 895, 3468, 1112, 860];

/// The default section sizes (KiB) for the era's architecture.
pub fn default_image_k(era: &Era) -> [u64; 5] {
    if era.is_64bit() {
        DEFAULT_IMAGE_K
    } else {
        DEFAULT_IMAGE_K_I386
    }
}

/// `CONFIG_PHYSICAL_START`'s default, where the image is loaded when nothing says otherwise:
/// 16 MiB from 2.6.31 ("x86: default CONFIG_PHYSICAL_START and CONFIG_PHYSICAL_ALIGN to
/// 16 MB"; a 2.6.32 log's early reservations show the image at 0x1000000), before 1 MiB on
/// i386 and 2 MiB on x86_64.
pub fn default_physical_start(era: &Era) -> u64 {
    if era.at_least_patch(2, 6, 31) {
        0x100_0000
    } else if era.is_64bit() {
        0x20_0000
    } else {
        0x10_0000
    }
}

/// SeaBIOS's reservation at the top of low RAM (its own tables), 128 KiB in current
/// releases (1.16; `0xbffe0000` in a 3 GiB-low QEMU guest). Older SeaBIOS used 12 KiB.
const SEABIOS_HIGH_RESERVE: u64 = 128 << 10;
/// QEMU i440fx: guests with at least this much RAM get only 3 GiB below 4 GiB
/// (`gigabyte_align`), the rest above 4 GiB.
const QEMU_PC_LOWMEM_LIMIT: u64 = 0xe000_0000;

/// The most RAM a QEMU `pc` guest of x86_64 can have and the kernel map all of it: the 3 GiB
/// below the PCI hole and the rest from 4 GiB up to `1 << MAX_PHYSMEM_BITS` (46 bits with
/// 4-level paging, 52 with 5-level). The kernel would ignore RAM above (`max_arch_pfn`).
pub fn qemu_max_mem(la57: bool) -> u64 {
    let bits = if la57 { 52 } else { 46 };
    (1u64 << bits) - (1 << 30)
}

impl Machine {
    /// A QEMU `pc` (i440FX) machine with SeaBIOS under KVM: `mem_bytes` of RAM and `cpus`
    /// possible CPUs. The e820 map is the one SeaBIOS builds from QEMU's `etc/e820`:
    /// conventional memory up to the EBDA at 0x9fc00, the BIOS ROM at 0xf0000, RAM from
    /// 1 MiB to the top of low memory less SeaBIOS's 128 KiB, KVM's TSS/identity-map pages
    /// at 0xfeffc000, the BIOS flash at 0xfffc0000, and RAM above 4 GiB when low memory is
    /// capped at 3 GiB.
    pub fn qemu(mem_bytes: u64, cpus: u32) -> Result<Self, String> {
        if mem_bytes < 2 << 20 {
            return Err(format!(
                "--mem {mem_bytes:#x}: a QEMU guest needs at least 2 MiB of RAM"
            ));
        }
        // RAM above 4 GiB starts at 4 GiB: the most 5-level paging maps (MAX_PHYSMEM_BITS
        // 52). The caller holds 4-level machines to 46 bits (`qemu_max_mem`).
        if mem_bytes > qemu_max_mem(true) {
            return Err(format!(
                "--mem {mem_bytes:#x}: more RAM than x86_64 maps, even with 5-level paging (MAX_PHYSMEM_BITS 52)"
            ));
        }
        if cpus == 0 {
            return Err(String::from("--cpus 0: a machine needs at least one CPU"));
        }
        let (low, high) = if mem_bytes >= QEMU_PC_LOWMEM_LIMIT {
            (0xc000_0000, mem_bytes - 0xc000_0000)
        } else {
            (mem_bytes, 0)
        };
        let mut e820 = alloc::vec![
            E820Entry::new(0, 0x9fc00, E820Type::Ram),
            E820Entry::new(0x9fc00, 0x400, E820Type::Reserved),
            E820Entry::new(0xf0000, 0x10000, E820Type::Reserved),
            E820Entry::new(
                0x10_0000,
                low - SEABIOS_HIGH_RESERVE - 0x10_0000,
                E820Type::Ram
            ),
            E820Entry::new(
                low - SEABIOS_HIGH_RESERVE,
                SEABIOS_HIGH_RESERVE,
                E820Type::Reserved
            ),
            E820Entry::new(0xfeff_c000, 0x4000, E820Type::Reserved),
            E820Entry::new(0xfffc_0000, 0x4_0000, E820Type::Reserved),
        ];
        if high > 0 {
            e820.push(E820Entry::new(1 << 32, high, E820Type::Ram));
        }
        let [text, rwdata, rodata, init, bss] = DEFAULT_IMAGE_K.map(|k| k << 10);
        let mut m = Machine::empty();
        m.name = format!("qemu-{}", human_size(mem_bytes));
        m.e820 = e820;
        m.cpus = cpus;
        m.nr_cpus = DEFAULT_NR_CPUS.max(cpus);
        m.image = KernelImage {
            phys_start: 0x100_0000,
            text,
            rwdata,
            rodata,
            init,
            bss,
            reserve_end: None,
            realmode_size: default_realmode_size(&Era::default()),
        };
        m.hypervisor = Some(Hypervisor::Kvm);
        // SeaBIOS: 639 KiB base memory, EBDA at 0x9fc00.
        m.bda = Some(BiosDataArea {
            base_mem_kb: 639,
            ebda_segment: 0x9fc0,
        });
        Ok(m)
    }

    /// `qemu(4 GiB, 2)`, named "qemu-4g": the default machine.
    /// A QEMU guest (see [`Machine::qemu`]) with `-numa node,mem=SIZE` for each entry of
    /// `node_mem`, which must add up to the RAM size. QEMU's SRAT lays the nodes over guest
    /// RAM in address order, node 0 first: the 640 KiB–1 MiB hole and the PCI hole below
    /// 4 GiB are cut out of whichever node spans them (hw/i386/acpi-build.c), so a node can
    /// cover RAM on both sides of 4 GiB. CPUs go to nodes in contiguous blocks, as QEMU's
    /// default CPU-to-node assignment does for one thread per core.
    pub fn qemu_numa(mem_bytes: u64, cpus: u32, node_mem: &[u64]) -> Result<Self, String> {
        let mut m = Machine::qemu(mem_bytes, cpus)?;
        if node_mem.is_empty() {
            return Ok(m);
        }
        if node_mem.len() > crate::mm::memblock::MAX_NUMNODES as usize {
            return Err(format!(
                "{} nodes: this kernel build has MAX_NUMNODES {}",
                node_mem.len(),
                crate::mm::memblock::MAX_NUMNODES
            ));
        }
        let total = node_mem
            .iter()
            .try_fold(0u64, |a, &b| a.checked_add(b))
            .ok_or("node sizes overflow")?;
        if total != mem_bytes {
            return Err(format!(
                "node sizes add up to {total:#x} bytes, not the guest's {mem_bytes:#x}"
            ));
        }
        let below_4g = if mem_bytes >= QEMU_PC_LOWMEM_LIMIT {
            0xc000_0000
        } else {
            mem_bytes
        };
        const HOLE_640K_START: u64 = 640 << 10;
        const HOLE_640K_END: u64 = 1 << 20;
        let mut memory = Vec::new();
        let mut add = |nid: u32, start: u64, len: u64| {
            if len > 0 {
                memory.push(SratMemory {
                    pxm: nid,
                    nid,
                    start,
                    end: start + len,
                    hotplug: false,
                    nonvolatile: false,
                });
            }
        };
        let mut next_base = 0u64;
        for (i, &len) in node_mem.iter().enumerate() {
            let nid = i as u32;
            let mut mem_base = next_base;
            let mut mem_len = len;
            next_base = mem_base + mem_len;
            if mem_base <= HOLE_640K_START && next_base > HOLE_640K_START {
                mem_len -= next_base - HOLE_640K_START;
                add(nid, mem_base, mem_len);
                if next_base <= HOLE_640K_END {
                    next_base = HOLE_640K_END;
                    continue;
                }
                mem_base = HOLE_640K_END;
                mem_len = next_base - HOLE_640K_END;
            }
            if mem_base <= below_4g && next_base > below_4g {
                mem_len -= next_base - below_4g;
                add(nid, mem_base, mem_len);
                mem_base = 1 << 32;
                mem_len = next_base - below_4g;
                next_base = mem_base + mem_len;
            }
            add(nid, mem_base, mem_len);
        }
        let n = node_mem.len() as u64;
        let cpus_v = (0..cpus)
            .map(|c| {
                let nid = (u64::from(c) * n / u64::from(cpus)) as u32;
                SratCpu {
                    pxm: nid,
                    apic: c,
                    nid,
                }
            })
            .collect();
        m.srat = Some(FirmwareNuma {
            cpus: cpus_v,
            memory,
            slit: None,
        });
        m.name = format!("{}-{}node", m.name, node_mem.len());
        Ok(m)
    }

    /// The node sizes QEMU picks when `-numa node` gives none: RAM split evenly in 8 MiB
    /// units, the last node taking the remainder (`numa_complete_configuration`).
    pub fn qemu_even_split(mem_bytes: u64, nodes: u32) -> Result<Vec<u64>, String> {
        if nodes == 0 {
            return Err(String::from("--nodes 0: a machine has at least one node"));
        }
        if nodes > crate::mm::memblock::MAX_NUMNODES as u32 {
            return Err(format!(
                "--nodes {nodes}: this kernel build has MAX_NUMNODES {}",
                crate::mm::memblock::MAX_NUMNODES
            ));
        }
        let each = (mem_bytes / u64::from(nodes)) & !((8 << 20) - 1);
        if each == 0 {
            return Err(format!(
                "--nodes {nodes}: {mem_bytes:#x} bytes of RAM is too little to give each node 8 MiB"
            ));
        }
        let mut v = alloc::vec![each; nodes as usize];
        if let Some(last) = v.last_mut() {
            *last = mem_bytes - each * u64::from(nodes - 1);
        }
        Ok(v)
    }

    pub fn qemu_4g() -> Self {
        match Machine::qemu(4 << 30, 2) {
            Ok(m) => m,
            // 4 GiB and 2 CPUs are always accepted by `qemu`.
            Err(_) => Machine::empty(),
        }
    }

    /// A machine whose firmware map is read from text: one range per line, as
    /// `START END TYPE` (END exclusive), `START +SIZE TYPE`, or a copied dmesg line
    /// (`BIOS-e820: [mem 0x…-0x…] usable` or the old `BIOS-e820: 0000… - 0000… (usable)`).
    /// Numbers take 0x/octal prefixes and K/M/G/T suffixes; `#` starts a comment. Everything
    /// else about the machine is the qemu-4g default.
    pub fn from_e820_text(text: &str) -> Result<Self, String> {
        let mut e820 = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let ent = parse_e820_line(line).map_err(|e| format!("line {}: {e}: {raw:?}", n + 1))?;
            e820.push(ent);
        }
        if e820.is_empty() {
            return Err(String::from("no e820 entries found"));
        }
        let mut m = Machine::qemu_4g();
        m.name = String::from("e820-file");
        m.e820 = e820;
        Ok(m)
    }

    /// This machine: the firmware map from /sys/firmware/memmap (the kernel's
    /// `e820_table_firmware`), the CPU count the OS reports, the running kernel's release
    /// as the era, and /proc/cmdline.
    #[cfg(feature = "std")]
    pub fn from_host() -> Result<Self, String> {
        extern crate std;
        use std::fs;
        let dir = "/sys/firmware/memmap";
        let rd = fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?;
        let mut idx: Vec<(u64, std::path::PathBuf)> = Vec::new();
        for d in rd {
            let d = d.map_err(|e| format!("{dir}: {e}"))?;
            let name = d.file_name().to_string_lossy().into_owned();
            if let Ok(i) = name.parse::<u64>() {
                idx.push((i, d.path()));
            }
        }
        idx.sort();
        let mut e820 = Vec::new();
        for (_, p) in &idx {
            let rd = |f: &str| {
                fs::read_to_string(p.join(f))
                    .map(|s| String::from(s.trim()))
                    .map_err(|e| format!("{}/{f}: {e}", p.display()))
            };
            let (s, e, t) = (rd("start")?, rd("end")?, rd("type")?);
            let num = |v: &str| {
                let (x, rest) = crate::klib::cmdline::simple_strtoull(v, 0);
                if rest.is_empty() && !v.is_empty() {
                    Ok(x)
                } else {
                    Err(format!("{}: bad number {v:?}", p.display()))
                }
            };
            let (start, end) = (num(&s)?, num(&e)?);
            let typ = parse_e820_type(&t)
                .ok_or_else(|| format!("{}: unknown type {t:?}", p.display()))?;
            if end < start {
                return Err(format!(
                    "{}: end {end:#x} below start {start:#x}",
                    p.display()
                ));
            }
            e820.push(E820Entry::new(start, end - start + 1, typ));
        }
        if e820.is_empty() {
            return Err(format!("{dir}: no entries"));
        }
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .map_err(|e| format!("CPU count: {e}"))?;
        let mut m = Machine::qemu_4g();
        m.name = String::from("host");
        m.e820 = e820;
        m.cpus = cpus;
        m.nr_cpus = DEFAULT_NR_CPUS.max(cpus);
        m.hypervisor = None;
        if let Ok(rel) = fs::read_to_string("/proc/sys/kernel/osrelease") {
            if let Some(v) = crate::era::KernelVersion::parse(rel.trim()) {
                m.era = Era::new(v, crate::era::Arch::X86_64);
                m.era.release = String::from(rel.trim());
            }
        }
        if let Ok(c) = fs::read_to_string("/proc/cmdline") {
            m.cmdline = String::from(c.trim());
        }
        Ok(m)
    }
}

fn human_size(b: u64) -> String {
    if b % (1 << 30) == 0 {
        format!("{}g", b >> 30)
    } else if b % (1 << 20) == 0 {
        format!("{}m", b >> 20)
    } else {
        format!("{}k", b >> 10)
    }
}

/// An e820 type as written in dmesg (any era), in /sys/firmware/memmap, or as a number.
pub fn parse_e820_type(s: &str) -> Option<E820Type> {
    let t = s
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    // Runs of blanks count as one ("ACPI  NVS" in a damaged capture is still ACPI NVS).
    let lower = t
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let ty = match lower.as_str() {
        "usable" | "ram" | "system ram" => E820Type::Ram,
        "reserved" => E820Type::Reserved,
        "acpi data" | "acpi" | "acpi tables" => E820Type::Acpi,
        "acpi nvs" | "nvs" | "acpi non-volatile storage" => E820Type::Nvs,
        "unusable" | "unusable memory" => E820Type::Unusable,
        "pmem" | "persistent memory" => E820Type::Pmem,
        "pram" | "persistent memory (legacy)" => E820Type::Pram,
        "soft reserved" => E820Type::SoftReserved,
        _ => {
            let num = lower
                .strip_prefix("persistent (type ")
                .map(|r| r.trim_end_matches(')'))
                .or_else(|| lower.strip_prefix("type "))
                .unwrap_or(&lower);
            let (v, rest) = crate::klib::cmdline::simple_strtoull(num, 0);
            if rest.is_empty() && !num.is_empty() && v <= u32::MAX as u64 {
                E820Type::from_code(v as u32)
            } else {
                return None;
            }
        }
    };
    Some(ty)
}

fn hex(s: &str) -> Result<u64, String> {
    let d = s.trim_start_matches("0x").trim_start_matches("0X");
    if d.is_empty() || d.len() > 16 || !d.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("bad hex number {s:?}"));
    }
    u64::from_str_radix(d, 16).map_err(|e| format!("{s:?}: {e}"))
}

fn size_num(s: &str) -> Result<u64, String> {
    match crate::klib::cmdline::memparse_checked(s) {
        Ok((v, "")) => Ok(v),
        _ => Err(format!("bad number {s:?}")),
    }
}

/// One e820 range from a line in any of the forms [`Machine::from_e820_text`] accepts.
/// Dmesg lines may carry console prefixes before the `who:` label.
pub fn parse_e820_line(line: &str) -> Result<E820Entry, String> {
    // Modern dmesg: "...: [mem 0xSTART-0xEND] type" (END inclusive).
    if let Some(i) = line.find("[mem ") {
        let rest = &line[i + 5..];
        let close = rest.find(']').ok_or("missing ']' after [mem")?;
        let (a, b) = rest[..close]
            .split_once('-')
            .ok_or("missing '-' in [mem a-b]")?;
        let (start, last) = (hex(a.trim())?, hex(b.trim())?);
        if last < start {
            return Err(format!("range end {last:#x} below start {start:#x}"));
        }
        let t = rest[close + 1..].trim();
        let typ = parse_e820_type(t).ok_or_else(|| format!("unknown e820 type {t:?}"))?;
        return Ok(E820Entry::new(start, (last - start).wrapping_add(1), typ));
    }
    // Old dmesg: "BIOS-e820: 0000000000000000 - 000000000009fc00 (usable)" (END exclusive).
    if let Some((left, r)) = line.split_once(" - ") {
        if left.contains(':') {
            let a = left.split_whitespace().last().unwrap_or("");
            let r = r.trim();
            let (b, t) = r.split_once(char::is_whitespace).ok_or("missing type")?;
            let (start, end) = (hex(a)?, hex(b)?);
            if end < start {
                return Err(format!("range end {end:#x} below start {start:#x}"));
            }
            let typ = parse_e820_type(t).ok_or_else(|| format!("unknown e820 type {t:?}"))?;
            return Ok(E820Entry::new(start, end - start, typ));
        }
    }
    // Table: "START END TYPE" or "START +SIZE TYPE".
    let mut it = line.split_whitespace();
    let (a, b) = match (it.next(), it.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(String::from("expected START END TYPE or START +SIZE TYPE")),
    };
    let t: Vec<&str> = it.collect();
    if t.is_empty() {
        return Err(String::from("missing type"));
    }
    let typ = parse_e820_type(&t.join(" "))
        .ok_or_else(|| format!("unknown e820 type {:?}", t.join(" ")))?;
    let start = size_num(a)?;
    let size = match b.strip_prefix('+') {
        Some(sz) => size_num(sz)?,
        None => {
            let end = size_num(b)?;
            if end < start {
                return Err(format!("end {end:#x} below start {start:#x}"));
            }
            end - start
        }
    };
    // An entry may end at the top of the address space (its last byte 2^64-1), as the
    // kernel's __append_e820_table accepts; one that wraps past it is refused.
    if size != 0 && start.checked_add(size - 1).is_none() {
        return Err(format!("range {start:#x} + {size:#x} wraps past 2^64"));
    }
    Ok(E820Entry::new(start, size, typ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_map_matches_a_real_4g_guest() {
        // memblock-debug/003-qemu-2node-4cpu-4g-memblock-debug-6.6.txt, BIOS-e820 lines.
        let log = "\
BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved
BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved
BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable
BIOS-e820: [mem 0x00000000bffe0000-0x00000000bfffffff] reserved
BIOS-e820: [mem 0x00000000feffc000-0x00000000feffffff] reserved
BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved
BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] usable";
        let m = Machine::qemu_4g();
        assert_eq!(m.name, "qemu-4g");
        assert_eq!(m.e820, Machine::from_e820_text(log).unwrap().e820);
        let small = Machine::qemu(512 << 20, 1).unwrap();
        assert_eq!(small.e820.len(), 7);
        assert_eq!(
            small.e820[3],
            E820Entry::new(0x10_0000, 0x1ffe_0000 - 0x10_0000, E820Type::Ram)
        );
        assert!(Machine::qemu(1 << 20, 1).is_err());
        assert!(Machine::qemu(1 << 30, 0).is_err());
    }

    #[test]
    fn e820_text_forms_and_errors() {
        let t = "# a table\n0 0x9fc00 usable\n0x100000 +1G ram\n 0xf0000 0x100000 reserved  # rom\n\
                 Jul 28 23:49:12 debian kernel: [    0.000000]  BIOS-e820: 0000000000000000 - 000000000009dc00 (usable)\n\
                 Jul 28 23:49:12 debian kernel: [    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000013fffffff] type 20\n\
                 0x200000000 +0x1000 persistent (type 12)";
        let m = Machine::from_e820_text(t).unwrap();
        assert_eq!(m.e820[1], E820Entry::new(0x100000, 1 << 30, E820Type::Ram));
        assert_eq!(m.e820[3], E820Entry::new(0, 0x9dc00, E820Type::Ram));
        assert_eq!(m.e820[4].typ, E820Type::Other(20));
        assert_eq!(m.e820[5].typ, E820Type::Pram);
        let err = Machine::from_e820_text("0 0x1000 usable\nhello world\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(Machine::from_e820_text("0x2000 0x1000 usable")
            .unwrap_err()
            .contains("below"));
        assert!(Machine::from_e820_text("0 0x1000 bogus")
            .unwrap_err()
            .contains("unknown e820 type"));
        assert!(Machine::from_e820_text("").is_err());
    }

    #[cfg(feature = "std")]
    #[test]
    fn host_map_reads_or_explains() {
        match Machine::from_host() {
            Ok(m) => assert!(!m.e820.is_empty() && m.cpus > 0),
            Err(e) => assert!(e.contains("memmap") || e.contains("CPU"), "{e}"),
        }
    }
}
