//! `kernel/printk/printk.c`: the log buffer's size and where a bigger one comes from.
//!
//! The kernel starts with a static buffer of `__LOG_BUF_LEN` (`1 << CONFIG_LOG_BUF_SHIFT`)
//! bytes in the image. `log_buf_len=` (`log_buf_len_setup`, an early parameter) asks for a
//! bigger one, rounded up to a power of two. `setup_log_buf(1)`, which x86 `setup_arch` calls
//! once the direct map exists (3.0+), takes it from memblock; `setup_log_buf(0)` from
//! `start_kernel` does the same if nothing did yet, first growing the request with the
//! CPU count (`log_buf_add_cpu`, 3.17+). The static buffer stays in the image; the new one is
//! never freed. 5.10's lockless ring buffer also takes its descriptor and info arrays, one
//! entry per 32 bytes of text (`PRB_AVGBITS`).
//!
//! The "early log buf free" figure counts what the log held when the buffer moved: bootmm
//! computes it the kernel's way, but over its own records, a small part of a real log.

use crate::include::NUMA_NO_NODE;
use crate::kernel::Kernel;
use crate::klib::cmdline::memparse;
use crate::mm::memblock::{Memblock, MEMBLOCK_ALLOC_ACCESSIBLE};
use crate::{pr_err, pr_info};

const FILE: &str = "kernel/printk/printk.c";

/// `PRB_AVGBITS` (5.10+): the expected average record is 32 bytes of text.
pub const PRB_AVGBITS: u32 = 5;
/// `LOG_BUF_LEN_MAX` (5.8+): 2 GiB.
pub const LOG_BUF_LEN_MAX: u64 = 1 << 31;
/// `sizeof(struct prb_desc)` (5.10+, x86_64): `state_var` and the text block's two positions.
pub const SIZEOF_PRB_DESC: u64 = 24;
/// `sizeof(struct printk_info)` (5.10+, x86_64): seq, ts_nsec, text_len, facility,
/// flags/level, caller_id and `struct dev_printk_info` (16 + 48 bytes).
pub const SIZEOF_PRINTK_INFO: u64 = 88;
/// `sizeof(struct printk_log)` (3.5–5.9): the header of every record.
const SIZEOF_PRINTK_LOG: u64 = 16;
/// `BOOTMEM_LOW_LIMIT` (`__pa(MAX_DMA_ADDRESS)`), the floor of `memblock_virt_alloc` (before 4.20).
const BOOTMEM_LOW_LIMIT: u64 = 16 << 20;

/// What the printk.c changes that touch the log buffer mean here, each decided once from
/// the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PrintkRules {
    /// 5.10+: the lockless ring buffer ("printk: use the lockless ringbuffer"):
    /// `setup_log_buf` also allocates the descriptor and info arrays (and says "text bytes
    /// not available"), a record is a data block of its id and text padded to the id's size
    /// (not a `struct printk_log` header), and `LOG_ALIGN` is `__alignof__(unsigned long)`.
    ring: bool,
    /// 3.17+: the rework of the dynamic buffer's sizing ("printk: make dynamic kernel ring
    /// buffer alignment explicit", "printk: allow increasing the ring buffer depending on
    /// the number of CPUs", believed): both allocations use `LOG_ALIGN`, `setup_log_buf(0)`
    /// grows the request by `log_buf_add_cpu`, and the size is printed with " bytes".
    cpu_sizing: bool,
    /// 5.8+: a `log_buf_len=` above `LOG_BUF_LEN_MAX` is capped ("log_buf over 2G is not
    /// supported."); before, the size was an `unsigned int` and memparse's value was
    /// truncated.
    len_max: bool,
}

impl PrintkRules {
    fn new(k: &Kernel) -> Self {
        PrintkRules {
            ring: k.era.at_least(5, 10),
            cpu_sizing: k.era.at_least(3, 17),
            len_max: k.era.at_least(5, 8),
        }
    }
}

/// The printk globals that decide memory: `log_buf_len`, `new_log_buf_len`, and where the
/// dynamic buffer went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogBuf {
    /// `new_log_buf_len`: the size asked for and not yet allocated (0: none).
    pub new_log_buf_len: u64,
    /// `log_buf_len` once a dynamic buffer was set up (None: still the static buffer).
    pub log_buf_len: Option<u64>,
    /// The memblock blocks of the dynamic buffer: text, then (5.10+) descriptors and infos.
    pub blocks: alloc::vec::Vec<(u64, u64)>,
}

/// `__LOG_BUF_LEN`: `1 << CONFIG_LOG_BUF_SHIFT`.
pub fn __log_buf_len(k: &Kernel) -> u64 {
    1 << k.machine.kernel_config().log_buf_shift
}

/// The current `log_buf_len`.
pub fn log_buf_len(k: &Kernel) -> u64 {
    k.log_buf.log_buf_len.unwrap_or_else(|| __log_buf_len(k))
}

/// `roundup_pow_of_two` (include/linux/log2.h), for a non-zero `n`.
pub fn roundup_pow_of_two(n: u64) -> u64 {
    n.next_power_of_two()
}

/// `log_buf_len_update`: scale by powers of two; only a size above the current one counts.
pub fn log_buf_len_update(k: &mut Kernel, size: u64) {
    let mut size = size;
    let len_max = PrintkRules::new(k).len_max;
    if len_max && size > LOG_BUF_LEN_MAX {
        size = LOG_BUF_LEN_MAX;
        pr_err!(k.printk, "{}log_buf over 2G is not supported.\n", prefix(k));
    }
    if !len_max {
        // Before 5.8 the size was an `unsigned int`: memparse's value is truncated.
        size &= u64::from(u32::MAX);
    }
    if size != 0 {
        size = roundup_pow_of_two(size);
    }
    if size > log_buf_len(k) {
        k.log_buf.new_log_buf_len = size;
    }
}

/// `log_buf_len_setup` (`early_param("log_buf_len", …)`). Returns false for a missing value.
pub fn log_buf_len_setup(k: &mut Kernel, val: Option<&str>) -> bool {
    let _t = k.trace.enter("log_buf_len_setup", FILE);
    let Some(s) = val else {
        // 5.x returns -EINVAL ("Malformed early option"); older kernels read a NULL string.
        return !k.era.at_least(4, 17);
    };
    let (size, _) = memparse(s);
    log_buf_len_update(k, size);
    true
}

/// The `pr_fmt` of printk.c ("printk: " from 5.0, believed; 4.9 logs lack it, 5.8 logs have it).
fn prefix(k: &Kernel) -> &'static str {
    if k.era.at_least(5, 0) {
        "printk: "
    } else {
        ""
    }
}

/// `log_buf_add_cpu` (3.17+, SMP): room for every possible CPU past the first, if that is
/// more than half the static buffer.
fn log_buf_add_cpu(k: &mut Kernel) {
    let cpus = u64::from(k.machine.cpus);
    if cpus <= 1 {
        return;
    }
    let cpu_max = 1u64 << k.machine.kernel_config().log_cpu_max_buf_shift;
    let cpu_extra = (cpus - 1) * cpu_max;
    let static_len = __log_buf_len(k);
    if cpu_extra <= static_len / 2 {
        return;
    }
    let p = prefix(k);
    pr_info!(
        k.printk,
        "{p}log_buf_len individual max cpu contribution: {cpu_max} bytes\n"
    );
    pr_info!(
        k.printk,
        "{p}log_buf_len total cpu_extra contributions: {cpu_extra} bytes\n"
    );
    pr_info!(k.printk, "{p}log_buf_len min size: {static_len} bytes\n");
    log_buf_len_update(k, cpu_extra + static_len);
}

/// `LOG_ALIGN`: 4 on x86 before 5.10 (`CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS`), then
/// `__alignof__(unsigned long)`.
fn log_align(k: &Kernel) -> u64 {
    if PrintkRules::new(k).ring {
        if k.era.is_64bit() {
            8
        } else {
            4
        }
    } else {
        4
    }
}

/// Bytes the records printed so far take in the static buffer, the kernel's way: a
/// `struct printk_log` header and the text, padded to `LOG_ALIGN` (before 5.10); a data
/// block of the record id and the text, padded to the id's size (5.10+).
fn used_bytes(k: &Kernel) -> u64 {
    let lines = k.printk.lines();
    let align = log_align(k);
    let ring = PrintkRules::new(k).ring;
    lines
        .iter()
        .map(|l| {
            let text = l.text.len() as u64;
            if ring {
                let id = if k.era.is_64bit() { 8 } else { 4 };
                (text + id).next_multiple_of(id)
            } else {
                (SIZEOF_PRINTK_LOG + text).next_multiple_of(align)
            }
        })
        .sum()
}

/// One allocation of `setup_log_buf`, in each era's memblock call.
fn alloc(k: &mut Kernel, size: u64, early: bool) -> Option<u64> {
    // 3.14–3.16 asked for PAGE_SIZE early and for 0 (SMP_CACHE_BYTES) late; LOG_ALIGN from
    // 3.17 ("printk: make dynamic kernel ring buffer alignment explicit").
    let align = if PrintkRules::new(k).cpu_sizing {
        log_align(k)
    } else if early {
        4096
    } else {
        crate::include::SMP_CACHE_BYTES
    };
    let r = if k.era.at_least(4, 20) {
        k.memblock.memblock_alloc(size, align)
    } else if k.era.at_least(3, 14) {
        // memblock_virt_alloc(_align) early, memblock_virt_alloc_nopanic late (the 3.14 API)
        let alloc = if early {
            Memblock::memblock_alloc_try_nid
        } else {
            Memblock::memblock_alloc_try_nid_nopanic
        };
        alloc(
            &mut k.memblock,
            size,
            align,
            BOOTMEM_LOW_LIMIT,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
        )
    } else {
        // 3.0–3.13: memblock_alloc(new_log_buf_len, PAGE_SIZE) early, alloc_bootmem_nopanic
        // (from 16 MiB up) late; both come from memblock here.
        let end = k.memblock.memblock_get_current_limit();
        let floor = if early { 0 } else { BOOTMEM_LOW_LIMIT };
        let mut p = k.memblock.memblock_find_in_range(floor, end, size, 4096);
        if p == 0 && floor != 0 {
            p = k.memblock.memblock_find_in_range(0, end, size, 4096);
        }
        if p != 0 && k.memblock.memblock_reserve(p, size).is_err() {
            p = 0;
        }
        return (p != 0).then_some(p);
    };
    r.ok().flatten().map(|p| p.0)
}

/// `setup_log_buf(early)`: move the log to a bigger buffer from memblock if one was asked for.
pub fn setup_log_buf(k: &mut Kernel, early: bool) {
    if !k.era.at_least(3, 0) {
        // 2.6.x allocated the buffer inside the log_buf_len= handler (not modeled).
        return;
    }
    let _t = k.trace.enter("setup_log_buf", FILE);
    let rules = PrintkRules::new(k);
    if k.log_buf.log_buf_len.is_some() {
        return;
    }
    if !early && k.log_buf.new_log_buf_len == 0 && rules.cpu_sizing {
        log_buf_add_cpu(k);
    }
    let len = k.log_buf.new_log_buf_len;
    if len == 0 {
        return;
    }
    let p = prefix(k);
    let ring = rules.ring;
    let descs_count = len >> PRB_AVGBITS;
    if ring && descs_count == 0 {
        pr_err!(k.printk, "{p}new_log_buf_len: {len} too small\n");
        return;
    }
    let Some(text) = alloc(k, len, early) else {
        if ring {
            pr_err!(k.printk, "{p}log_buf_len: {len} text bytes not available\n");
        } else {
            pr_err!(k.printk, "{p}log_buf_len: {len} bytes not available\n");
        }
        return;
    };
    let mut blocks = alloc::vec![(text, len)];
    if ring {
        let descs_size = descs_count * SIZEOF_PRB_DESC;
        let Some(descs) = alloc(k, descs_size, early) else {
            pr_err!(
                k.printk,
                "{p}log_buf_len: {descs_size} desc bytes not available\n"
            );
            let _ = k.memblock.memblock_free(text, len);
            return;
        };
        blocks.push((descs, descs_size));
        let infos_size = descs_count * SIZEOF_PRINTK_INFO;
        let Some(infos) = alloc(k, infos_size, early) else {
            pr_err!(
                k.printk,
                "{p}log_buf_len: {infos_size} info bytes not available\n"
            );
            let _ = k.memblock.memblock_free(descs, descs_size);
            let _ = k.memblock.memblock_free(text, len);
            return;
        };
        blocks.push((infos, infos_size));
    }
    let static_len = __log_buf_len(k);
    let free = static_len.saturating_sub(used_bytes(k));
    k.log_buf.log_buf_len = Some(len);
    k.log_buf.new_log_buf_len = 0;
    k.log_buf.blocks = blocks;
    if rules.cpu_sizing {
        pr_info!(k.printk, "{p}log_buf_len: {len} bytes\n");
    } else {
        pr_info!(k.printk, "{p}log_buf_len: {len}\n");
    }
    pr_info!(
        k.printk,
        "{p}early log buf free: {free}({}%)\n",
        free * 100 / static_len
    );
}

#[cfg(test)]
mod tests;
