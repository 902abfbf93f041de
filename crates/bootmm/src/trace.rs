//! The call-tree recorder: which kernel function ran, inside which, and where it lives.
//!
//! Students step through `start_kernel` in gdb to see this. bootmm records it instead: every
//! model function that stands for a kernel function opens a span named after it, with the
//! kernel source file. Time is a logical clock (one tick per span boundary), so the tree
//! and the Chrome trace are deterministic; the kernel has no such recorder.
//!
//! Each simulated CPU has its own lane: boot runs on CPU 0's, and a call made on another
//! CPU ([`Trace::enter_on`]) nests only inside that CPU's open spans. The tree marks the
//! spans of CPUs other than 0 with their CPU; the Chrome trace gives each CPU a thread.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub func: &'static str,
    pub file: &'static str,
    /// The simulated CPU it ran on.
    pub cpu: u32,
    /// Nesting depth within its CPU's lane.
    pub depth: usize,
    /// Logical time the call began and ended.
    pub begin: u64,
    pub end: u64,
}

#[derive(Default)]
struct TraceBuf {
    spans: Vec<Span>,
    /// The open spans of each CPU's lane.
    stacks: Vec<Vec<usize>>,
    clock: u64,
}

#[derive(Default)]
struct TraceShared {
    buf: spin::Mutex<TraceBuf>,
    /// Recording stopped ([`Trace::set_recording`]): spans are not kept. Read without the
    /// lock, so that a stopped recorder costs the allocator's paths one load.
    off: core::sync::atomic::AtomicBool,
}

/// A handle on the recorder; clones share one tree.
#[derive(Clone, Default)]
pub struct Trace {
    shared: Arc<TraceShared>,
}

/// Closes its span when dropped.
#[must_use = "the span closes when the guard is dropped"]
pub struct TraceGuard {
    trace: Option<Trace>,
    idx: usize,
    cpu: u32,
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        let Some(t) = &self.trace else {
            return;
        };
        let mut b = t.shared.buf.lock();
        b.clock += 1;
        let now = b.clock;
        if let Some(s) = b.spans.get_mut(self.idx) {
            s.end = now;
        }
        let idx = self.idx;
        if let Some(st) = b.stacks.get_mut(self.cpu as usize) {
            if st.last() == Some(&idx) {
                st.pop();
            }
        }
    }
}

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }

    /// A trace that records nothing: for the model's trial runs (quiet copies of memblock,
    /// the direct map tried under other inputs), which are not part of the boot's call tree.
    pub fn unrecorded() -> Self {
        let t = Self::default();
        t.set_recording(false);
        t
    }

    /// Start or stop recording. While stopped, [`Trace::enter`] keeps nothing (a script's
    /// calls would otherwise grow the tree with every line).
    pub fn set_recording(&self, on: bool) {
        self.shared
            .off
            .store(!on, core::sync::atomic::Ordering::Relaxed);
    }

    /// Whether spans are being kept.
    #[inline]
    pub fn recording(&self) -> bool {
        !self.shared.off.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// Open a span for kernel function `func` of `file` on the boot CPU's lane; it closes
    /// when the guard drops.
    pub fn enter(&self, func: &'static str, file: &'static str) -> TraceGuard {
        self.enter_on(0, func, file)
    }

    /// Open a span on simulated CPU `cpu`'s lane.
    #[inline]
    pub fn enter_on(&self, cpu: u32, func: &'static str, file: &'static str) -> TraceGuard {
        if !self.recording() {
            return TraceGuard {
                trace: None,
                idx: usize::MAX,
                cpu,
            };
        }
        self.enter_recorded(cpu, func, file)
    }

    #[cold]
    fn enter_recorded(&self, cpu: u32, func: &'static str, file: &'static str) -> TraceGuard {
        let mut b = self.shared.buf.lock();
        b.clock += 1;
        let now = b.clock;
        let lane = cpu as usize;
        if b.stacks.len() <= lane {
            b.stacks.resize_with(lane + 1, Vec::new);
        }
        let depth = b.stacks[lane].len();
        let idx = b.spans.len();
        b.spans.push(Span {
            func,
            file,
            cpu,
            depth,
            begin: now,
            end: now,
        });
        b.stacks[lane].push(idx);
        TraceGuard {
            trace: Some(self.clone()),
            idx,
            cpu,
        }
    }

    /// The function of the innermost span still open on the boot CPU (the model's stand-in
    /// for the caller address that `%pS` prints), or `None` outside any span.
    pub fn current_func(&self) -> Option<&'static str> {
        let b = self.shared.buf.lock();
        b.stacks
            .first()
            .and_then(|st| st.last())
            .and_then(|&i| b.spans.get(i))
            .map(|s| s.func)
    }

    /// The spans in call order.
    pub fn spans(&self) -> Vec<Span> {
        self.shared.buf.lock().spans.clone()
    }

    /// The indented tree, one call per line: `- setup_arch arch/x86/kernel/setup.c`; a span
    /// of another CPU than 0 says which: `- rmqueue_bulk mm/page_alloc.c [CPU 1]`.
    pub fn render_tree(&self) -> String {
        let mut out = String::new();
        for s in self.shared.buf.lock().spans.iter() {
            for _ in 0..s.depth {
                out.push_str("  ");
            }
            let _ = write!(out, "- {} {}", s.func, s.file);
            if s.cpu != 0 {
                let _ = write!(out, " [CPU {}]", s.cpu);
            }
            out.push('\n');
        }
        out
    }

    /// Chrome trace event format (complete events, "ph":"X"), which Perfetto opens.
    /// One logical tick is shown as one microsecond.
    pub fn render_chrome_json(&self) -> String {
        let mut out = String::from("{\"traceEvents\":[");
        for (i, s) in self.shared.buf.lock().spans.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"name\":\"{}\",\"cat\":\"{}\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":1,\"tid\":{},\"args\":{{\"file\":\"{}\"}}}}",
                s.func,
                s.file,
                s.begin,
                s.end.saturating_sub(s.begin).max(1),
                s.cpu + 1,
                s.file
            );
        }
        out.push_str("],\"displayTimeUnit\":\"ns\"}\n");
        out
    }
}

/// Open a span for the enclosing model function: `trace_fn!(k.trace, "setup_arch", "arch/x86/kernel/setup.c")`.
#[macro_export]
macro_rules! trace_fn {
    ($trace:expr, $func:expr, $file:expr) => {
        let _trace_guard = $trace.enter($func, $file);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_follows_guards() {
        let t = Trace::new();
        {
            let _a = t.enter("start_kernel", "init/main.c");
            {
                let _b = t.enter("setup_arch", "arch/x86/kernel/setup.c");
            }
            let _c = t.enter("mm_core_init", "mm/mm_init.c");
        }
        assert_eq!(
            t.render_tree(),
            "- start_kernel init/main.c\n  - setup_arch arch/x86/kernel/setup.c\n  - mm_core_init mm/mm_init.c\n"
        );
        let s = t.spans();
        assert!(s[0].end > s[2].end - 1 && s[1].end < s[2].begin);
        assert!(t.render_chrome_json().contains("\"name\":\"setup_arch\""));
    }

    #[test]
    fn each_cpu_has_its_own_lane() {
        let t = Trace::new();
        let _a = t.enter("start_kernel", "init/main.c");
        {
            // CPU 1's call does not nest inside CPU 0's open span.
            let _b = t.enter_on(1, "rmqueue_bulk", "mm/page_alloc.c");
            let _c = t.enter("mm_core_init", "mm/mm_init.c");
        }
        assert_eq!(
            t.render_tree(),
            "- start_kernel init/main.c\n- rmqueue_bulk mm/page_alloc.c [CPU 1]\n  - mm_core_init mm/mm_init.c\n"
        );
        assert!(t.render_chrome_json().contains("\"tid\":2"));
        t.set_recording(false);
        let _d = t.enter_on(1, "drain_pages_zone", "mm/page_alloc.c");
        assert_eq!(t.spans().len(), 3);
    }
}
