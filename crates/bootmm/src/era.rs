//! What differs between kernel versions, as data and small functions.
//!
//! The boot sequence is one code path. Where a kernel release changed a format string, a
//! constant or a rule, the difference is a question asked of [`Era`] (`era.at_least(4, 19)`),
//! answered from the version, the architecture and, where a distribution backported a change,
//! the vendor. `../shared/spec/kernel-formulas.md` lists the differences.

use alloc::string::String;
use core::fmt;

/// The architecture the modelled kernel was built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    /// 32-bit x86; `pae` selects 64-bit page table entries (CONFIG_X86_PAE).
    I386 {
        pae: bool,
    },
}

/// A kernel release: `major.minor.patch`, plus the distribution build suffix if known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parse "6.6", "6.6.41-dirty", "3.18.140", "2.6.32-5-amd64", "4.18.0-80.11.2.el8_0.x86_64".
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let mut nums = [0u32; 3];
        let mut n = 0;
        let mut rest = s;
        while n < 3 {
            let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                break;
            }
            nums[n] = rest[..digits].parse().ok()?;
            n += 1;
            rest = &rest[digits..];
            if n < 3 && rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
            {
                rest = &rest[1..];
            } else {
                break;
            }
        }
        if n < 2 {
            return None;
        }
        Some(KernelVersion::new(nums[0], nums[1], nums[2]))
    }
}

/// The newest release whose rules bootmm models; later ones are modelled with its rules.
pub const NEWEST_MODELLED: KernelVersion = KernelVersion::new(6, 18, 0);

impl KernelVersion {
    /// Whether this is a Linux release bootmm can model: `Err` for a version no Linux
    /// release has had (1.0, 2.4, 3.25, 99.0), `Ok(Some(note))` for a release newer than
    /// [`NEWEST_MODELLED`] (modelled with its rules), `Ok(None)` otherwise.
    ///
    /// # Errors
    /// A message naming the releases that exist.
    pub fn check_release(&self) -> Result<Option<String>, String> {
        // The last minor of each major series (2.6 was one series; 7.x is current).
        let last_minor = match self.major {
            2 if self.minor == 6 => Some(6),
            3 => Some(19),
            4 => Some(20),
            5 => Some(19),
            6 => Some(19),
            7 => Some(u32::MAX),
            _ => None,
        };
        match last_minor {
            Some(m) if self.minor <= m && (self.major != 2 || self.minor == 6) => {}
            _ => {
                return Err(alloc::format!(
                    "{}.{} is not a Linux release bootmm models (2.6.x, 3.0-3.19, 4.0-4.20, 5.0-5.19, 6.0-6.19, 7.x)",
                    self.major, self.minor
                ))
            }
        }
        if (self.major, self.minor) > (NEWEST_MODELLED.major, NEWEST_MODELLED.minor) {
            return Ok(Some(alloc::format!(
                "kernel {}.{} is newer than the newest release bootmm models ({}.{}): modelled with {}.{}'s rules",
                self.major,
                self.minor,
                NEWEST_MODELLED.major,
                NEWEST_MODELLED.minor,
                NEWEST_MODELLED.major,
                NEWEST_MODELLED.minor
            )));
        }
        Ok(None)
    }
}

/// The upstream stable release a distribution kernel is built from, when its version line
/// names it: Ubuntu's trailer `(Ubuntu 5.4.0-1092.101~18.04.1-gcp 5.4.210)` and Debian's
/// `#1 SMP Debian 6.1.176-1 (...)` carry the sublevel that `5.4.0-1092-gcp` or
/// `6.1.0-50-amd64` hides. Only a version of the same major.minor is taken.
pub fn upstream_version(v: KernelVersion, line: &str) -> KernelVersion {
    let same = |c: KernelVersion| (c.major, c.minor) == (v.major, v.minor) && c.patch > v.patch;
    let mut best = v;
    // Ubuntu: the last word of the last parenthesised group.
    if let Some(i) = line.rfind("(Ubuntu ") {
        let group = &line[i + 1..];
        let group = group.split(')').next().unwrap_or("");
        if let Some(c) = group
            .split_whitespace()
            .last()
            .and_then(KernelVersion::parse)
        {
            if same(c) {
                best = c;
            }
        }
    }
    // Debian: "Debian X.Y.Z-…" after the build number (the compiler's "(Debian 12.2.0-14)"
    // names another version and fails the major.minor test).
    for (i, _) in line.match_indices("Debian ") {
        if let Some(c) = line[i + 7..]
            .split_whitespace()
            .next()
            .and_then(KernelVersion::parse)
        {
            if same(c) && c.patch > best.patch {
                best = c;
            }
        }
    }
    best
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The allocator that serves boot-time allocations between the firmware map and the buddy
/// allocator, and whose free memory `mem_init` hands over. Chosen once per era.
///
/// - 2.6 up to 2.6.33: mm/bootmem.c's bitmap allocator (`init_bootmem`, `free_all_bootmem`),
///   fed on x86_64 by e820's `early_res` reservations.
/// - 2.6.34 to 4.19: CONFIG_NO_BOOTMEM (2.6.34, Yinghai Lu's "x86: Make 64 bit use early_res
///   instead of bootmem before slab"; memblock replaced early_res on x86 in 2.6.36): the
///   bootmem API kept as wrappers over memblock, in mm/bootmem.c under #ifdef until
///   mm/nobootmem.c split it out (2.6.39, "bootmem: Separate out CONFIG_NO_BOOTMEM code into
///   nobootmem.c").
/// - 4.20 onwards: memblock alone (355c45affca7 "mm: remove bootmem allocator
///   implementation"); `free_all_bootmem` became `memblock_free_all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EarlyAllocator {
    Bootmem,
    NoBootmem,
    Memblock,
}

impl EarlyAllocator {
    /// The file holding `free_all_bootmem` / `memblock_free_all` and the
    /// `free_low_memory_core_early` → `__free_memory_core` → `__free_pages_memory` chain
    /// under it.
    pub fn hand_over_file(self, era: &Era) -> &'static str {
        match self {
            EarlyAllocator::Bootmem => "mm/bootmem.c",
            EarlyAllocator::NoBootmem if !era.at_least_patch(2, 6, 39) => "mm/bootmem.c",
            EarlyAllocator::NoBootmem => "mm/nobootmem.c",
            EarlyAllocator::Memblock => "mm/memblock.c",
        }
    }

    /// The name of the hand-over: `free_all_bootmem`, or `memblock_free_all` from 4.20.
    pub fn hand_over_name(self) -> &'static str {
        match self {
            EarlyAllocator::Memblock => "memblock_free_all",
            _ => "free_all_bootmem",
        }
    }
}

/// The kernel being modelled: version, architecture, and the full release string if known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Era {
    pub version: KernelVersion,
    pub arch: Arch,
    /// The release string as `uname -r` shows it (e.g. "5.4.0-1092-gcp"), for vendor rules.
    pub release: String,
    /// 5-level paging is on (x86_64 with CONFIG_X86_5LEVEL, 4.14+, on a CPU with LA57):
    /// MAX_PHYSMEM_BITS is 52 instead of 46. A boot-time fact of kernel and CPU together;
    /// a log shows it in its `max_arch_pfn = 0x10000000000`.
    pub la57: bool,
}

/// The kernel bootmm models when nothing else is asked for.
pub const DEFAULT_VERSION: KernelVersion = KernelVersion::new(6, 18, 0);

impl Default for Era {
    fn default() -> Self {
        Era::new(DEFAULT_VERSION, Arch::X86_64)
    }
}

impl Era {
    pub fn new(version: KernelVersion, arch: Arch) -> Self {
        Era {
            version,
            arch,
            release: alloc::format!("{version}"),
            la57: false,
        }
    }

    /// True when this kernel is `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.version.major, self.version.minor) >= (major, minor)
    }

    /// True when this kernel is `major.minor.patch` or newer (for stable backports).
    pub fn at_least_patch(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.version >= KernelVersion::new(major, minor, patch)
    }

    pub fn is_64bit(&self) -> bool {
        self.arch == Arch::X86_64
    }

    /// Width of `phys_addr_t` in hex digits for `%pa` (16 on x86_64 and PAE, 8 otherwise).
    pub fn pa_digits(&self) -> usize {
        match self.arch {
            Arch::X86_64 | Arch::I386 { pae: true } => 16,
            Arch::I386 { pae: false } => 8,
        }
    }

    /// `MAX_PHYSMEM_BITS`: x86_64 46 with 4-level paging, 52 with 5-level; i386 PAE 36, 32.
    pub fn max_physmem_bits(&self) -> u32 {
        match self.arch {
            Arch::X86_64 if self.la57 => 52,
            Arch::X86_64 => 46,
            Arch::I386 { pae: true } => 36,
            Arch::I386 { pae: false } => 32,
        }
    }

    /// `MAX_ARCH_PFN` (arch/x86/include/asm/e820/api.h): x86_64 `MAXMEM >> PAGE_SHIFT`
    /// (`1 << (MAX_PHYSMEM_BITS - PAGE_SHIFT)`), i386 PAE `1 << 24`, i386 `1 << 20`.
    pub fn max_arch_pfn(&self) -> u64 {
        match self.arch {
            Arch::X86_64 => 1 << (self.max_physmem_bits() - 12),
            Arch::I386 { pae: true } => 1 << 24,
            Arch::I386 { pae: false } => 1 << 20,
        }
    }

    /// The early allocator this kernel hands to the buddy allocator: see [`EarlyAllocator`].
    pub fn early_allocator(&self) -> EarlyAllocator {
        if !self.at_least_patch(2, 6, 34) {
            EarlyAllocator::Bootmem
        } else if !self.at_least(4, 20) {
            EarlyAllocator::NoBootmem
        } else {
            EarlyAllocator::Memblock
        }
    }

    /// The file of the core memory-map initialisation (`free_area_init`, `memmap_init`,
    /// `page_alloc_init_late`, `memblock_free_pages`, `reserve_bootmem_region`):
    /// mm/page_alloc.c until 6.3's "mm: move most of core MM initialization to
    /// mm/mm_init.c".
    pub fn mm_init_file(&self) -> &'static str {
        if self.at_least(6, 3) {
            "mm/mm_init.c"
        } else {
            "mm/page_alloc.c"
        }
    }

    /// Where x86's `pcpu_fc_alloc` / `pcpu_fc_free` live: arch/x86/kernel/setup_percpu.c
    /// until 5.17's generic versions in mm/percpu.c (23f917169ef1 "mm: percpu: add generic
    /// pcpu_fc_alloc/free funciton").
    pub fn pcpu_fc_file(&self) -> &'static str {
        if self.at_least(5, 17) {
            "mm/percpu.c"
        } else {
            "arch/x86/kernel/setup_percpu.c"
        }
    }

    /// The "e820: " prefix that 3.x and 4.0–4.11 put before most e820.c messages.
    pub fn e820_prefix(&self) -> &'static str {
        if crate::arch::x86::e820::e820_rework(self) {
            ""
        } else {
            "e820: "
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distribution_release_strings() {
        assert_eq!(
            KernelVersion::parse("6.6.41-dirty"),
            Some(KernelVersion::new(6, 6, 41))
        );
        assert_eq!(
            KernelVersion::parse("2.6.32-5-amd64"),
            Some(KernelVersion::new(2, 6, 32))
        );
        assert_eq!(
            KernelVersion::parse("4.18.0-80.11.2.el8_0.x86_64"),
            Some(KernelVersion::new(4, 18, 0))
        );
        assert_eq!(
            KernelVersion::parse("3.18"),
            Some(KernelVersion::new(3, 18, 0))
        );
        assert_eq!(
            KernelVersion::parse("6.12.0-rc2+"),
            Some(KernelVersion::new(6, 12, 0))
        );
        assert_eq!(KernelVersion::parse("banana"), None);
        assert_eq!(KernelVersion::parse("6"), None);
    }

    #[test]
    fn only_linux_releases_are_modelled() {
        let v = |s: &str| KernelVersion::parse(s).unwrap().check_release();
        for ok in [
            "2.6.32", "3.0", "3.19", "4.20.17", "5.19", "6.6.9", "6.18.35",
        ] {
            assert_eq!(v(ok), Ok(None), "{ok}");
        }
        for newer in ["6.19", "7.0", "7.2.1"] {
            assert!(v(newer).unwrap().unwrap().contains("newer than"), "{newer}");
        }
        for bad in [
            "1.0", "2.4.37", "2.7", "3.20", "4.21", "5.20", "8.0", "99.0", "0.99",
        ] {
            assert!(v(bad).unwrap_err().contains("not a Linux release"), "{bad}");
        }
    }

    #[test]
    fn distribution_banners_name_the_upstream_sublevel() {
        let v = |r: &str, line: &str| upstream_version(KernelVersion::parse(r).unwrap(), line);
        assert_eq!(
            v("5.4.0-1092-gcp", "5.4.0-1092-gcp (buildd@lcy02) (gcc version 7.5.0 (Ubuntu 7.5.0-3ubuntu1~18.04)) #101~18.04.1-Ubuntu SMP Mon Oct 17 18:29:06 UTC 2022 (Ubuntu 5.4.0-1092.101~18.04.1-gcp 5.4.210)"),
            KernelVersion::new(5, 4, 210)
        );
        assert_eq!(
            v("6.1.0-50-amd64", "6.1.0-50-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"),
            KernelVersion::new(6, 1, 176)
        );
        assert_eq!(
            v("3.16.0-4-amd64", "3.16.0-4-amd64 (debian-kernel@lists.debian.org) (gcc version 4.8.4 (Debian 4.8.4-1) ) #1 SMP Debian 3.16.7-ckt11-1 (2015-05-24)"),
            KernelVersion::new(3, 16, 7)
        );
        // RHEL names no upstream sublevel; a compiler's version is not the kernel's.
        assert_eq!(
            v("4.18.0-80.el8.x86_64", "4.18.0-80.el8.x86_64 (mockbuild@x86-vm-07) (gcc version 8.2.1 20180905 (Red Hat 8.2.1-3) (GCC)) #1 SMP"),
            KernelVersion::new(4, 18, 0)
        );
    }

    #[test]
    fn era_questions() {
        let e = Era::new(KernelVersion::new(4, 4, 0), Arch::X86_64);
        assert!(e.at_least(4, 4) && !e.at_least(4, 12));
        assert_eq!(e.e820_prefix(), "e820: ");
        assert_eq!(Era::default().e820_prefix(), "");
        assert_eq!(Era::default().max_arch_pfn(), 0x4_0000_0000);
    }
}
