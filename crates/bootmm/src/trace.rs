//! The call-tree recorder: which kernel function ran, inside which, and where it lives.
//!
//! Students step through `start_kernel` in gdb to see this. bootmm records it instead: every
//! model function that stands for a kernel function opens a span named after it, with the
//! kernel source file. Time is a logical clock (one tick per span boundary), so the tree
//! and the Chrome trace are deterministic; the kernel has no such recorder.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub func: &'static str,
    pub file: &'static str,
    pub depth: usize,
    /// Logical time the call began and ended.
    pub begin: u64,
    pub end: u64,
}

#[derive(Default)]
struct TraceBuf {
    spans: Vec<Span>,
    stack: Vec<usize>,
    clock: u64,
    /// Recording stopped ([`Trace::set_recording`]): spans are not kept.
    off: bool,
}

/// A handle on the recorder; clones share one tree.
#[derive(Clone, Default)]
pub struct Trace {
    buf: Arc<spin::Mutex<TraceBuf>>,
}

/// Closes its span when dropped.
#[must_use = "the span closes when the guard is dropped"]
pub struct TraceGuard {
    trace: Trace,
    idx: usize,
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        let mut b = self.trace.buf.lock();
        b.clock += 1;
        let now = b.clock;
        if let Some(s) = b.spans.get_mut(self.idx) {
            s.end = now;
        }
        if b.stack.last() == Some(&self.idx) {
            b.stack.pop();
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
        self.buf.lock().off = !on;
    }

    /// Open a span for kernel function `func` of `file`; it closes when the guard drops.
    pub fn enter(&self, func: &'static str, file: &'static str) -> TraceGuard {
        let mut b = self.buf.lock();
        if b.off {
            return TraceGuard {
                trace: self.clone(),
                idx: usize::MAX,
            };
        }
        b.clock += 1;
        let now = b.clock;
        let depth = b.stack.len();
        let idx = b.spans.len();
        b.spans.push(Span {
            func,
            file,
            depth,
            begin: now,
            end: now,
        });
        b.stack.push(idx);
        TraceGuard {
            trace: self.clone(),
            idx,
        }
    }

    /// The function of the innermost span still open (the model's stand-in for the caller
    /// address that `%pS` prints), or `None` outside any span.
    pub fn current_func(&self) -> Option<&'static str> {
        let b = self.buf.lock();
        b.stack.last().and_then(|&i| b.spans.get(i)).map(|s| s.func)
    }

    /// The spans in call order.
    pub fn spans(&self) -> Vec<Span> {
        self.buf.lock().spans.clone()
    }

    /// The indented tree, one call per line: `- setup_arch arch/x86/kernel/setup.c`.
    pub fn render_tree(&self) -> String {
        let mut out = String::new();
        for s in self.buf.lock().spans.iter() {
            for _ in 0..s.depth {
                out.push_str("  ");
            }
            let _ = writeln!(out, "- {} {}", s.func, s.file);
        }
        out
    }

    /// Chrome trace event format (complete events, "ph":"X"), which Perfetto opens.
    /// One logical tick is shown as one microsecond.
    pub fn render_chrome_json(&self) -> String {
        let mut out = String::from("{\"traceEvents\":[");
        for (i, s) in self.buf.lock().spans.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"name\":\"{}\",\"cat\":\"{}\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":1,\"tid\":1,\"args\":{{\"file\":\"{}\"}}}}",
                s.func,
                s.file,
                s.begin,
                s.end.saturating_sub(s.begin).max(1),
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
}
