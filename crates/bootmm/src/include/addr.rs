//! Typed addresses: physical addresses, kernel virtual addresses and page frame numbers.
//!
//! The kernel passes `phys_addr_t`, `unsigned long` pfns and pointers around as bare integers
//! and relies on naming (`__pa`, `PFN_UP`, `pfn_to_page`) to keep them apart. bootmm gives each
//! its own type, in the style of rust-osdev's `x86_64` crate, so a pfn is never added to a byte
//! address by mistake. The arithmetic helpers mirror `include/linux/pfn.h`.

use core::fmt;
use core::ops::{Add, Sub};

/// `PAGE_SHIFT` on x86 (both widths).
pub const PAGE_SHIFT: u32 = 12;
/// `PAGE_SIZE`.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// `PAGE_MASK` (the kernel's definition: the bits above the page offset).
pub const PAGE_MASK: u64 = !(PAGE_SIZE - 1);

/// A physical address (`phys_addr_t`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(pub u64);

/// A kernel virtual address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct VirtAddr(pub u64);

/// A page frame number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Pfn(pub u64);

impl PhysAddr {
    pub const fn new(a: u64) -> Self {
        PhysAddr(a)
    }
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    /// `PFN_DOWN`: the frame containing this address.
    pub const fn pfn_down(self) -> Pfn {
        Pfn(self.0 >> PAGE_SHIFT)
    }
    /// `PFN_UP`: the first frame at or above this address.
    pub const fn pfn_up(self) -> Pfn {
        Pfn((self.0 >> PAGE_SHIFT) + ((self.0 & (PAGE_SIZE - 1) != 0) as u64))
    }
    pub const fn is_aligned(self, align: u64) -> bool {
        align == 0 || self.0 % align == 0
    }
}

impl Pfn {
    pub const fn new(p: u64) -> Self {
        Pfn(p)
    }
    pub const fn as_u64(self) -> u64 {
        self.0
    }
    /// `PFN_PHYS`.
    pub const fn phys(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }
}

/// `PFN_UP(x)` on a byte count or address.
pub const fn pfn_up(x: u64) -> u64 {
    (x >> PAGE_SHIFT) + ((x & (PAGE_SIZE - 1) != 0) as u64)
}
/// `PFN_DOWN(x)`.
pub const fn pfn_down(x: u64) -> u64 {
    x >> PAGE_SHIFT
}
/// `PAGE_ALIGN(x)` (saturating at the top of the address space instead of wrapping).
pub const fn page_align(x: u64) -> u64 {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => v & PAGE_MASK,
        None => PAGE_MASK,
    }
}
/// `round_up(x, a)` for a power-of-two `a` (0 or 1 leaves `x` alone).
pub const fn round_up(x: u64, a: u64) -> u64 {
    if a <= 1 {
        return x;
    }
    match x.checked_add(a - 1) {
        Some(v) => v & !(a - 1),
        None => !(a - 1),
    }
}
/// `round_down(x, a)` for a power-of-two `a`.
pub const fn round_down(x: u64, a: u64) -> u64 {
    if a <= 1 {
        x
    } else {
        x & !(a - 1)
    }
}
/// `ALIGN(x, a)` for any non-zero `a` (the kernel's `roundup` when `a` is not a power of two).
pub const fn roundup(x: u64, a: u64) -> u64 {
    if a == 0 {
        x
    } else {
        x.div_ceil(a) * a
    }
}

macro_rules! addr_ops {
    ($t:ident) => {
        impl Add<u64> for $t {
            type Output = $t;
            fn add(self, rhs: u64) -> $t {
                $t(self.0 + rhs)
            }
        }
        impl Sub<u64> for $t {
            type Output = $t;
            fn sub(self, rhs: u64) -> $t {
                $t(self.0 - rhs)
            }
        }
        impl Sub<$t> for $t {
            type Output = u64;
            fn sub(self, rhs: $t) -> u64 {
                self.0 - rhs.0
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({:#x})"), self.0)
            }
        }
        impl fmt::LowerHex for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
        impl From<u64> for $t {
            fn from(v: u64) -> $t {
                $t(v)
            }
        }
    };
}
addr_ops!(PhysAddr);
addr_ops!(VirtAddr);
addr_ops!(Pfn);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfn_rounding_matches_linux_pfn_h() {
        assert_eq!(PhysAddr(0x9fc00).pfn_down(), Pfn(0x9f));
        assert_eq!(PhysAddr(0x9fc00).pfn_up(), Pfn(0xa0));
        assert_eq!(PhysAddr(0xa0000).pfn_up(), Pfn(0xa0));
        assert_eq!(pfn_up(1), 1);
        assert_eq!(pfn_down(4095), 0);
    }

    #[test]
    fn alignment_helpers() {
        assert_eq!(page_align(1), 4096);
        assert_eq!(page_align(4096), 4096);
        assert_eq!(page_align(u64::MAX), PAGE_MASK);
        assert_eq!(round_up(0x1001, 0x1000), 0x2000);
        assert_eq!(round_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(roundup(10, 3), 12);
        assert_eq!(round_up(u64::MAX - 5, 0x1000), !0xfff);
    }
}
