//! The simulated CPUs: kernel/smp.c's `smp_processor_id()`, the per-CPU `current` task
//! (arch/x86/include/asm/current.h), and `smp_init` bringing the secondary CPUs up.
//!
//! DOC: boot runs on CPU 0, the boot CPU, as `swapper/0`. After boot every possible CPU
//! (`nr_cpu_ids` of them) can run: a [`Cpu`] is one simulated CPU bound to the OS thread
//! that holds it, and the page allocator's and the percpu allocator's calls on it take only
//! that CPU's per-CPU locks on their fast paths, and `zone->lock` for bulk work, as the
//! kernel's do. A CPU is held by one thread at a time, as a task runs on one CPU with
//! preemption off inside the allocator.
//!
//! The `&mut Kernel` calls (boot, scripts) run on the CPU [`Cpus::current`] names: 0, or
//! the one a script's `cpu(N)` chose.
//!
//! ```
//! use bootmm::include::gfp::gfp_constant;
//! use bootmm::{init::main::start_kernel, Kernel, Machine};
//!
//! let mut k = Kernel::new(Machine::qemu(256 << 20, 2).unwrap()).unwrap();
//! start_kernel(&mut k).unwrap();
//! k.smp_init().unwrap();
//! let gfp = gfp_constant(&k.era, "GFP_KERNEL").unwrap();
//! let k = &k;
//! std::thread::scope(|s| {
//!     for id in 0..2 {
//!         s.spawn(move || {
//!             let cpu = k.cpu(id).unwrap();
//!             // Served from this CPU's pcp list, refilled from the buddy lists.
//!             let page = cpu.alloc_pages(gfp, 0).unwrap().expect("a free page");
//!             cpu.free_pages(page, 0);
//!         });
//!     }
//! });
//! k.drain_all_pages();
//! ```

use alloc::boxed::Box;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::include::gfp::Gfp;
use crate::include::mm_types::Page;
use crate::kernel::Kernel;
use crate::mm::page_alloc::{self, AllocError, FreeResult};

/// `TASK_COMM_LEN`.
pub const TASK_COMM_LEN: usize = 16;

/// A task's `comm`: at most `TASK_COMM_LEN - 1` bytes, as `__set_task_comm` keeps them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Comm {
    buf: [u8; TASK_COMM_LEN],
    len: u8,
}

impl Comm {
    /// `strscpy(tsk->comm, name, TASK_COMM_LEN)`: cut at the last whole character that fits.
    pub fn new(name: &str) -> Comm {
        let mut len = name.len().min(TASK_COMM_LEN - 1);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        let mut buf = [0u8; TASK_COMM_LEN];
        buf[..len].copy_from_slice(&name.as_bytes()[..len]);
        Comm {
            buf,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One possible CPU's own state.
struct CpuState {
    /// `current->comm` of the task running on it (`swapper/N` when idle).
    comm: spin::Mutex<Comm>,
    /// A thread holds this CPU ([`Kernel::cpu`]).
    bound: AtomicBool,
}

/// The possible CPUs (`cpu_possible_mask`, `nr_cpu_ids` of them).
pub struct Cpus {
    cpus: Box<[CpuState]>,
    /// The CPU the `&mut Kernel` calls run on.
    current: AtomicU32,
    /// `smp_init` ran: the secondary CPUs are up.
    online: AtomicBool,
}

impl Cpus {
    /// `nr` possible CPUs (at least one), each idle as `swapper/N`.
    pub fn new(nr: u32) -> Cpus {
        let cpus = (0..nr.max(1))
            .map(|i| CpuState {
                comm: spin::Mutex::new(Comm::new(&alloc::format!("swapper/{i}"))),
                bound: AtomicBool::new(false),
            })
            .collect();
        Cpus {
            cpus,
            current: AtomicU32::new(0),
            online: AtomicBool::new(false),
        }
    }

    /// `nr_cpu_ids`.
    pub fn nr_cpu_ids(&self) -> u32 {
        self.cpus.len() as u32
    }

    /// The CPU the `&mut Kernel` calls run on.
    pub fn current(&self) -> u32 {
        self.current.load(Ordering::Relaxed)
    }

    /// `current->comm` on `cpu` (`swapper/0` for a CPU that does not exist, which no caller
    /// passes: debug builds assert it).
    pub fn comm(&self, cpu: u32) -> Comm {
        debug_assert!(
            cpu < self.nr_cpu_ids(),
            "comm of CPU {cpu}, past nr_cpu_ids"
        );
        self.cpus
            .get(cpu as usize)
            .map_or_else(|| Comm::new("swapper/0"), |c| *c.comm.lock())
    }

    /// `set_task_comm` for the task on `cpu`; ignored for a CPU that does not exist.
    pub fn set_comm(&self, cpu: u32, name: &str) {
        if let Some(c) = self.cpus.get(cpu as usize) {
            *c.comm.lock() = Comm::new(name);
        }
    }

    /// Move the `&mut Kernel` caller's task to `cpu` (a script's `cpu(N)`): the CPU it
    /// leaves runs its idle task again.
    ///
    /// # Errors
    /// [`CpuError::NoSuchCpu`] for a CPU at or past `nr_cpu_ids`.
    pub fn switch_to(&self, cpu: u32) -> Result<(), CpuError> {
        if cpu >= self.nr_cpu_ids() {
            return Err(CpuError::NoSuchCpu {
                cpu,
                nr_cpu_ids: self.nr_cpu_ids(),
            });
        }
        let old = self.current();
        if old != cpu {
            let comm = self.comm(old);
            self.set_comm(cpu, comm.as_str());
            self.set_comm(old, &alloc::format!("swapper/{old}"));
            self.current.store(cpu, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether `smp_init` ran.
    pub fn online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }
}

impl Default for Cpus {
    fn default() -> Self {
        Cpus::new(1)
    }
}

/// Why a CPU could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuError {
    /// The CPU number is not below `nr_cpu_ids`.
    NoSuchCpu { cpu: u32, nr_cpu_ids: u32 },
    /// Another thread holds it.
    Busy(u32),
    /// [`Kernel::smp_init`] has not run: only the boot CPU is up.
    NotOnline,
}

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuError::NoSuchCpu { cpu, nr_cpu_ids } => write!(
                f,
                "CPU {cpu} does not exist: this machine has nr_cpu_ids {nr_cpu_ids} (CPUs 0-{})",
                nr_cpu_ids.saturating_sub(1)
            ),
            CpuError::Busy(cpu) => write!(f, "CPU {cpu} is already held by another thread"),
            CpuError::NotOnline => f.write_str(
                "the secondary CPUs are not up: call smp_init on the booted kernel first",
            ),
        }
    }
}

impl Kernel {
    /// init/main.c `kernel_init_freeable`: `smp_init` brings the secondary CPUs up, and
    /// `page_alloc_init_late` waits for the deferred struct pages. bootmm's boot leaves
    /// deferred pages to be initialised on demand (docs/divergences.md); here they are all
    /// initialised and freed, so that the CPUs' allocations never need `&mut`. The call tree
    /// stops recording (see [`crate::Trace::set_recording`]).
    ///
    /// # Errors
    /// The deferred struct pages would not fit the host-memory budget, or the memmap is
    /// broken; the kernel stays usable from `&mut` calls.
    pub fn smp_init(&mut self) -> Result<(), crate::init::main::BootError> {
        if self.cpus.online() {
            return Ok(());
        }
        page_alloc::deferred_init_all(self)?;
        // The init call tree ends here. Calls on the CPUs afterwards are recorded only when
        // the caller turns recording back on (a long run would grow the tree without bound).
        self.trace.set_recording(false);
        self.cpus.online.store(true, Ordering::Release);
        Ok(())
    }

    /// Bind simulated CPU `id` to the calling thread until the handle drops.
    ///
    /// # Errors
    /// [`CpuError::NotOnline`] before [`Kernel::smp_init`], [`CpuError::NoSuchCpu`] for `id`
    /// at or past `nr_cpu_ids`, [`CpuError::Busy`] while another handle holds it.
    pub fn cpu(&self, id: u32) -> Result<Cpu<'_>, CpuError> {
        if !self.cpus.online() {
            return Err(CpuError::NotOnline);
        }
        let nr = self.cpus.nr_cpu_ids();
        let Some(c) = self.cpus.cpus.get(id as usize) else {
            return Err(CpuError::NoSuchCpu {
                cpu: id,
                nr_cpu_ids: nr,
            });
        };
        if c.bound.swap(true, Ordering::Acquire) {
            return Err(CpuError::Busy(id));
        }
        Ok(Cpu {
            k: self,
            id,
            _not_sync: core::marker::PhantomData,
        })
    }

    /// mm/page_alloc.c: `drain_all_pages(NULL)`: every CPU's pcp lists of every zone back to
    /// the buddy lists. From 6.0 the caller drains the remote CPUs itself under their
    /// `pcp->lock`s, which is what bootmm does in every era (before 6.0 the drain ran on each
    /// CPU from a workqueue or an IPI; the lists end the same).
    pub fn drain_all_pages(&self) {
        page_alloc::drain_all_pages(self, None);
    }
}

/// One simulated CPU, held by one thread (see [`Kernel::cpu`]). It may move to another
/// thread, not be shared by two.
pub struct Cpu<'k> {
    k: &'k Kernel,
    id: u32,
    _not_sync: core::marker::PhantomData<core::cell::Cell<()>>,
}

impl Drop for Cpu<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.k.cpus.cpus.get(self.id as usize) {
            c.bound.store(false, Ordering::Release);
        }
    }
}

impl<'k> Cpu<'k> {
    /// `smp_processor_id()`.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The kernel this CPU runs.
    pub fn kernel(&self) -> &'k Kernel {
        self.k
    }

    /// `set_task_comm(current, name)`: the name the allocator's reports give this CPU's task.
    pub fn set_comm(&self, name: &str) {
        self.k.cpus.set_comm(self.id, name);
    }

    /// `alloc_pages(gfp, order)` on this CPU: see [`page_alloc::__alloc_pages`].
    ///
    /// # Errors
    /// As [`page_alloc::__alloc_pages`]; out of memory is `Ok(None)`.
    #[inline]
    pub fn alloc_pages(&self, gfp: Gfp, order: u32) -> Result<Option<NonNull<Page>>, AllocError> {
        page_alloc::alloc_pages_on(self.k, self.id, gfp, order, -1)
    }

    /// `alloc_pages_node(nid, gfp, order)` on this CPU (`nid` < 0: NUMA_NO_NODE).
    ///
    /// # Errors
    /// As [`Cpu::alloc_pages`], and [`AllocError::NoNode`].
    pub fn alloc_pages_node(
        &self,
        nid: i32,
        gfp: Gfp,
        order: u32,
    ) -> Result<Option<NonNull<Page>>, AllocError> {
        page_alloc::alloc_pages_on(self.k, self.id, gfp, order, nid)
    }

    /// `__free_pages(page, order)` on this CPU: see [`page_alloc::__free_pages`].
    #[inline]
    pub fn free_pages(&self, page: NonNull<Page>, order: u32) -> FreeResult {
        page_alloc::__free_pages_on(self.k, self.id, page, order)
    }

    /// `drain_local_pages(NULL)`: this CPU's pcp lists back to the buddy lists.
    pub fn drain_local_pages(&self) {
        page_alloc::drain_pages(self.k, self.id, None);
    }

    /// `__alloc_percpu(size, align)`, growing into a new chunk when the first is full.
    pub fn alloc_percpu(&self, size: u64, align: u64) -> Option<crate::mm::percpu::PcpuPtr> {
        // SAFETY: this handle holds the CPU.
        unsafe { crate::mm::percpu::pcpu_alloc_on(self.k, self.id, size, align) }
    }

    /// `free_percpu(p)` on this CPU (an empty chunk beyond one is destroyed).
    ///
    /// # Errors
    /// As [`crate::mm::percpu::free_percpu`].
    pub fn free_percpu(
        &self,
        p: Option<crate::mm::percpu::PcpuPtr>,
    ) -> Result<(), crate::mm::percpu::PcpuFreeError> {
        // SAFETY: this handle holds the CPU.
        unsafe { crate::mm::percpu::free_percpu_on(self.k, self.id, p) }
    }

    /// `this_cpu_ptr(p)`.
    pub fn this_cpu_ptr(&self, p: crate::mm::percpu::PcpuPtr) -> Option<crate::PhysAddr> {
        crate::mm::percpu::per_cpu_ptr(self.k, p, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_keeps_what_task_comm_len_holds() {
        assert_eq!(Comm::new("bootmm-script").as_str(), "bootmm-script");
        assert_eq!(
            Comm::new("a-very-long-task-name").as_str(),
            "a-very-long-tas"
        );
        assert_eq!(Comm::new("ääääääää").as_str(), "äääääää");
    }

    #[test]
    fn cpus_name_their_idle_tasks() {
        let c = Cpus::new(3);
        assert_eq!(c.nr_cpu_ids(), 3);
        assert_eq!(c.comm(2).as_str(), "swapper/2");
        c.set_comm(1, "worker");
        assert_eq!(c.comm(1).as_str(), "worker");
        assert_eq!(c.comm(0).as_str(), "swapper/0");
    }
}
