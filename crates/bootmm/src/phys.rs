//! Simulated physical memory: one host mapping that stands for the machine's whole RAM.
//!
//! In the kernel, physical memory is simply there, and the direct map (`__va`/`__pa`,
//! `arch/x86/include/asm/page.h`) makes every byte addressable at `PAGE_OFFSET + pa`.
//! bootmm reserves one host mapping from physical address 0 to the end of the highest e820
//! entry, lazily (MAP_NORESERVE), so only the pages the model touches cost host memory.
//! Holes in the e820 map are part of the mapping too; nothing but RAM is ever touched.

use core::fmt;
use core::ptr::NonNull;

use crate::include::{PhysAddr, VirtAddr};

/// `__PAGE_OFFSET` on x86_64 with 4-level paging and no KASLR (`0xffff888000000000`, 4.20+).
pub const PAGE_OFFSET_X86_64: u64 = 0xffff_8880_0000_0000;

/// Why simulated RAM could not be provided or used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhysError {
    /// The host refused the mapping (address space or overcommit limits).
    MapFailed {
        size: u64,
        reason: alloc::string::String,
    },
    /// An access outside the simulated physical address space.
    OutOfRange { addr: u64, len: u64, end: u64 },
    /// No backing memory: this is a model-only instance.
    Unbacked,
    /// Doing this would take the process's host memory past the host-memory budget
    /// ([`host_budget`]).
    OverBudget {
        /// What needed the memory.
        what: alloc::string::String,
        /// Bytes it would add.
        need: u64,
        /// Bytes the process holds already.
        resident: u64,
        /// The budget, and where it comes from.
        budget: HostBudget,
    },
}

/// How much host memory bootmm lets one process use for simulated machines, and who said so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBudget {
    pub bytes: u64,
    /// "BOOTMM_HOST_MEM", "--host-mem", "half of this host's RAM", or "unlimited".
    pub source: &'static str,
}

/// Bytes as the largest whole binary unit that keeps one decimal ("12.6 GiB").
pub fn human_bytes(b: u64) -> alloc::string::String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut i = 0;
    let mut v = b as f64;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        alloc::format!("{b} bytes")
    } else {
        alloc::format!("{v:.1} {}", UNITS[i])
    }
}

impl fmt::Display for PhysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhysError::MapFailed { size, reason } => write!(
                f,
                "cannot reserve {} ({size:#x} bytes) of host address space for simulated RAM: {reason} (simulated RAM is one host mapping as large as the machine's physical address range, and this host gives a process less)",
                human_bytes(*size)
            ),
            PhysError::OutOfRange { addr, len, end } => write!(
                f,
                "physical access [{addr:#x}-{:#x}] is outside simulated RAM [0-{:#x}]",
                addr.saturating_add(*len).saturating_sub(1),
                end.saturating_sub(1)
            ),
            PhysError::Unbacked => write!(f, "this machine has no simulated RAM behind it"),
            PhysError::OverBudget {
                what,
                need,
                resident,
                budget,
            } => write!(
                f,
                "{what} would need {} more of host memory ({} in use), over the host-memory budget of {} ({}); raise it with --host-mem SIZE or BOOTMM_HOST_MEM=SIZE",
                human_bytes(*need),
                human_bytes(*resident),
                human_bytes(budget.bytes),
                budget.source
            ),
        }
    }
}

/// The budget a caller set ([`set_host_budget`]); 0: not set.
static BUDGET_SET: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Set the host-memory budget for this process (the command line's `--host-mem`).
pub fn set_host_budget(bytes: u64) {
    BUDGET_SET.store(bytes.max(1), core::sync::atomic::Ordering::Relaxed);
}

/// The host-memory budget: what [`set_host_budget`] set, else `BOOTMM_HOST_MEM` (a size such
/// as `8G`), else half of this host's RAM (`MemTotal` of /proc/meminfo; 4 GiB if it cannot
/// be read). Without `std` there is no host to protect: unlimited.
pub fn host_budget() -> HostBudget {
    let set = BUDGET_SET.load(core::sync::atomic::Ordering::Relaxed);
    if set != 0 {
        return HostBudget {
            bytes: set,
            source: "--host-mem",
        };
    }
    #[cfg(feature = "std")]
    {
        extern crate std;
        if let Ok(v) = std::env::var("BOOTMM_HOST_MEM") {
            if let Ok((b, "")) = crate::klib::cmdline::memparse_checked(v.trim()) {
                return HostBudget {
                    bytes: b.max(1),
                    source: "BOOTMM_HOST_MEM",
                };
            }
        }
        let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let l = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb << 10)
        });
        HostBudget {
            bytes: total.map_or(4 << 30, |t| t / 2),
            source: if total.is_some() {
                "half of this host's RAM"
            } else {
                "this host's RAM is unknown: 4 GiB"
            },
        }
    }
    #[cfg(not(feature = "std"))]
    HostBudget {
        bytes: u64::MAX,
        source: "unlimited",
    }
}

/// Host memory this process holds now (its resident set), if the host says.
pub fn host_resident() -> Option<u64> {
    #[cfg(feature = "std")]
    {
        extern crate std;
        let s = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * rustix::param::page_size() as u64)
    }
    #[cfg(not(feature = "std"))]
    None
}

/// Refuse `need` more bytes of host memory for `what` if they would take the process past
/// its budget. Costs one read of /proc/self/statm: for bulk work, not per page.
///
/// # Errors
/// [`PhysError::OverBudget`], saying what would be needed.
pub fn check_host_budget(
    need: u64,
    what: impl FnOnce() -> alloc::string::String,
) -> Result<(), PhysError> {
    let budget = host_budget();
    let resident = host_resident().unwrap_or(0);
    if resident.saturating_add(need) > budget.bytes {
        return Err(PhysError::OverBudget {
            what: what(),
            need,
            resident,
            budget,
        });
    }
    Ok(())
}

/// The host side of the mapping; unmapped when the last [`PhysMem`] handle goes.
struct Mapping {
    base: NonNull<u8>,
    len: u64,
    #[cfg(feature = "std")]
    owned: bool,
}

// SAFETY: the mapping is plain memory; concurrent access discipline is the allocators' job,
// exactly as physical memory is shared by all CPUs in the kernel.
unsafe impl Send for Mapping {}
// SAFETY: see above.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        if self.owned {
            // SAFETY: base/len are exactly what mmap returned in `PhysMem::map_host`, and no
            // handle outlives the Arc that owns this mapping.
            unsafe {
                let _ = rustix::mm::munmap(self.base.as_ptr().cast(), self.len as usize);
            }
        }
    }
}

/// Simulated RAM: physical addresses `[0, end)` backed by host memory.
#[derive(Clone)]
pub struct PhysMem {
    map: alloc::sync::Arc<Mapping>,
    page_offset: u64,
}

impl fmt::Debug for PhysMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysMem([0-{:#x}])", self.map.len)
    }
}

impl PhysMem {
    /// Reserve `[0, end)` lazily in the host's address space (MAP_NORESERVE, anonymous,
    /// zero-filled on first touch).
    #[cfg(feature = "std")]
    pub fn map_host(end: u64) -> Result<Self, PhysError> {
        use rustix::mm::{mmap_anonymous, MapFlags, ProtFlags};
        let len = crate::include::addr::page_align(end.max(crate::include::PAGE_SIZE));
        let fail = |reason: alloc::string::String| PhysError::MapFailed { size: len, reason };
        let size: usize = usize::try_from(len)
            .map_err(|_| fail("larger than the host's address space".into()))?;
        // SAFETY: a fresh anonymous private mapping at an address of the kernel's choosing;
        // it aliases nothing.
        let p = unsafe {
            mmap_anonymous(
                core::ptr::null_mut(),
                size,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .map_err(|e| fail(alloc::format!("{e}")))?;
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| fail("mmap returned NULL".into()))?;
        Ok(PhysMem {
            map: alloc::sync::Arc::new(Mapping {
                base,
                len,
                owned: true,
            }),
            page_offset: PAGE_OFFSET_X86_64,
        })
    }

    /// Use memory the caller already owns as simulated RAM (a real kernel's direct map,
    /// or a test buffer).
    ///
    /// # Safety
    /// `base` must point to `len` bytes that stay valid and are used only through this
    /// handle and its clones for as long as any of them lives.
    pub unsafe fn from_raw(base: NonNull<u8>, len: u64) -> Self {
        PhysMem {
            map: alloc::sync::Arc::new(Mapping {
                base,
                len,
                #[cfg(feature = "std")]
                owned: false,
            }),
            page_offset: PAGE_OFFSET_X86_64,
        }
    }

    /// Set `PAGE_OFFSET` (it differs per era and on i386).
    pub fn set_page_offset(&mut self, page_offset: u64) {
        self.page_offset = page_offset;
    }

    /// The end of simulated physical memory.
    pub fn end(&self) -> PhysAddr {
        PhysAddr(self.map.len)
    }

    fn check(&self, pa: PhysAddr, len: u64) -> Result<(), PhysError> {
        match pa.0.checked_add(len) {
            Some(e) if e <= self.map.len => Ok(()),
            _ => Err(PhysError::OutOfRange {
                addr: pa.0,
                len,
                end: self.map.len,
            }),
        }
    }

    /// `__va(pa)`: the kernel virtual address of a physical address in the direct map.
    pub fn va(&self, pa: PhysAddr) -> VirtAddr {
        VirtAddr(self.page_offset.wrapping_add(pa.0))
    }

    /// `__pa(va)`: the physical address behind a direct-map virtual address.
    pub fn pa(&self, va: VirtAddr) -> PhysAddr {
        PhysAddr(va.0.wrapping_sub(self.page_offset))
    }

    /// The host pointer standing for physical address `pa`, valid for `len` bytes.
    pub fn host_ptr(&self, pa: PhysAddr, len: u64) -> Result<NonNull<u8>, PhysError> {
        self.check(pa, len)?;
        // SAFETY: `check` proved pa + len <= map.len, so the offset stays inside the mapping.
        Ok(unsafe { NonNull::new_unchecked(self.map.base.as_ptr().add(pa.0 as usize)) })
    }

    /// `memset(__va(pa), byte, len)`.
    ///
    /// Clearing many whole pages of the host mapping gives them back to the host instead
    /// (MADV_DONTNEED on the private anonymous mapping: they read as zero again and cost
    /// no memory until written), so that the zeroed buffers of `memblock_alloc` (swiotlb,
    /// hash tables) stay lazily backed like the rest of simulated RAM.
    pub fn memset(&self, pa: PhysAddr, byte: u8, len: u64) -> Result<(), PhysError> {
        let p = self.host_ptr(pa, len)?;
        #[cfg(feature = "std")]
        if byte == 0 && self.map.owned && len >= Self::DISCARD_MIN {
            // The host's page size (4 KiB on x86_64, 16 or 64 KiB on some arm64 and ppc64
            // hosts): madvise works on whole host pages.
            let host_page = rustix::param::page_size();
            let start = p.as_ptr() as usize;
            let end = start + len as usize;
            let (a, b) = (
                start.next_multiple_of(host_page),
                end / host_page * host_page,
            );
            // SAFETY: [a, b) is whole host pages inside the validated range of our own
            // private anonymous mapping; discarding them only makes them read as zero,
            // which is what this call writes. Nothing holds references into simulated RAM
            // across it.
            let discarded = a < b
                && unsafe {
                    rustix::mm::madvise(
                        a as *mut core::ffi::c_void,
                        b - a,
                        rustix::mm::Advice::LinuxDontNeed,
                    )
                }
                .is_ok();
            if discarded {
                // SAFETY: the head and tail are inside the validated range.
                unsafe {
                    core::ptr::write_bytes(start as *mut u8, 0, a - start);
                    core::ptr::write_bytes(b as *mut u8, 0, end - b);
                }
                return Ok(());
            }
        }
        if len >= Self::BUDGET_CHECK_MIN {
            check_host_budget(len, || {
                alloc::format!("memset of {} at {:#x}", human_bytes(len), pa.0)
            })?;
        }
        // SAFETY: host_ptr validated the whole range; the mapping is writable.
        unsafe { core::ptr::write_bytes(p.as_ptr(), byte, len as usize) };
        Ok(())
    }

    /// The smallest write of simulated RAM checked against the host-memory budget.
    const BUDGET_CHECK_MIN: u64 = 1 << 20;

    /// The smallest clear worth a system call instead of writing zeros.
    #[cfg(feature = "std")]
    const DISCARD_MIN: u64 = 256 << 10;

    /// `memchr_inv(__va(pa), byte, len)`: the first byte that differs from `byte`, if any.
    pub fn memchr_inv(
        &self,
        pa: PhysAddr,
        byte: u8,
        len: u64,
    ) -> Result<Option<PhysAddr>, PhysError> {
        let p = self.host_ptr(pa, len)?;
        // SAFETY: host_ptr validated the whole range; reads of anonymous memory are defined.
        let s = unsafe { core::slice::from_raw_parts(p.as_ptr(), len as usize) };
        Ok(s.iter().position(|&b| b != byte).map(|i| pa + i as u64))
    }

    /// Copy `len` bytes between physical ranges (`memmove` semantics).
    pub fn copy(&self, dst: PhysAddr, src: PhysAddr, len: u64) -> Result<(), PhysError> {
        let d = self.host_ptr(dst, len)?;
        let s = self.host_ptr(src, len)?;
        if len >= Self::BUDGET_CHECK_MIN {
            check_host_budget(len, || {
                alloc::format!("a copy of {} to {:#x}", human_bytes(len), dst.0)
            })?;
        }
        // SAFETY: both ranges validated; `copy` tolerates overlap.
        unsafe { core::ptr::copy(s.as_ptr(), d.as_ptr(), len as usize) };
        Ok(())
    }

    /// Read a little-endian u64 at `pa`.
    pub fn read_u64(&self, pa: PhysAddr) -> Result<u64, PhysError> {
        let p = self.host_ptr(pa, 8)?;
        // SAFETY: validated range; unaligned read is explicit.
        Ok(unsafe { core::ptr::read_unaligned(p.as_ptr().cast::<u64>()) })
    }

    /// Write a u64 at `pa`.
    pub fn write_u64(&self, pa: PhysAddr, v: u64) -> Result<(), PhysError> {
        let p = self.host_ptr(pa, 8)?;
        // SAFETY: validated range; unaligned write is explicit.
        unsafe { core::ptr::write_unaligned(p.as_ptr().cast::<u64>(), v) };
        Ok(())
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn lazily_backed_64g_costs_nothing_until_touched() {
        let m = PhysMem::map_host(64 << 30).expect("64 GiB of address space");
        m.memset(PhysAddr(0xfff_f000), 0xaa, 4096).unwrap();
        assert_eq!(
            m.memchr_inv(PhysAddr(0xfff_f000), 0xaa, 4096).unwrap(),
            None
        );
        assert_eq!(m.memchr_inv(PhysAddr(0x1000), 0, 4096).unwrap(), None);
        m.write_u64(PhysAddr((64 << 30) - 8), 7).unwrap();
        assert_eq!(m.read_u64(PhysAddr((64 << 30) - 8)).unwrap(), 7);
    }

    #[test]
    fn out_of_range_is_an_error_not_a_crash() {
        let m = PhysMem::map_host(1 << 20).unwrap();
        assert!(matches!(
            m.memset(PhysAddr(0xff000), 0, 0x2000),
            Err(PhysError::OutOfRange { .. })
        ));
        assert!(m.read_u64(PhysAddr(u64::MAX - 3)).is_err());
    }

    #[test]
    fn clearing_many_pages_zeroes_exactly_the_range() {
        let m = PhysMem::map_host(8 << 20).unwrap();
        m.memset(PhysAddr(0), 0x5a, 8 << 20).unwrap();
        // Unaligned at both ends, large enough to give whole pages back to the host.
        let (start, len) = (0x1_0123, 0x40_0000 + 0x567);
        m.memset(PhysAddr(start), 0, len).unwrap();
        assert_eq!(m.memchr_inv(PhysAddr(start), 0, len).unwrap(), None);
        assert_eq!(
            m.memchr_inv(PhysAddr(0), 0x5a, start).unwrap(),
            None,
            "the bytes before the range are kept"
        );
        let end = start + len;
        assert_eq!(
            m.memchr_inv(PhysAddr(end), 0x5a, (8 << 20) - end).unwrap(),
            None,
            "the bytes after the range are kept"
        );
        // The discarded pages are writable memory again.
        m.write_u64(PhysAddr(0x20_0000), 9).unwrap();
        assert_eq!(m.read_u64(PhysAddr(0x20_0000)).unwrap(), 9);
    }

    #[test]
    fn va_pa_round_trip() {
        let m = PhysMem::map_host(1 << 20).unwrap();
        let va = m.va(PhysAddr(0x1234));
        assert_eq!(va, VirtAddr(PAGE_OFFSET_X86_64 + 0x1234));
        assert_eq!(m.pa(va), PhysAddr(0x1234));
    }
}
