//! The kernel's `lib/` directory (named `klib` here, since `lib` is the crate root): the kernel's small helpers that memory management leans on.
pub mod cmdline;
pub mod ratelimit;
pub mod rbtree;
#[cfg(feature = "std")]
pub mod test_vmalloc;
pub mod vsprintf;
