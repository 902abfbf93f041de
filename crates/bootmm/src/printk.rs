//! The kernel log (`kernel/printk/printk.c`): every line the model prints, with its level.
//!
//! In the kernel, `printk` appends a record to one global ring buffer under a lock, and
//! `pr_cont` continues the last record. bootmm keeps the same shape: one [`Printk`] buffer,
//! shared by cheap clonable handles, holding whole lines with their `KERN_*` level. It is
//! unbounded (the kernel's ring buffer overwrites old records) and carries no timestamps,
//! so output is deterministic.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// `KERN_*` log levels (`include/linux/kern_levels.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub text: String,
}

#[derive(Default)]
struct LogBuf {
    lines: Vec<LogLine>,
    /// The last record is still open for `pr_cont` (it was printed without "\n").
    open: bool,
}

/// A handle on the kernel log. Clones share one buffer, as every caller of `printk` does.
#[derive(Clone, Default)]
pub struct Printk {
    buf: Arc<spin::Mutex<LogBuf>>,
}

impl fmt::Debug for Printk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Printk({} lines)", self.buf.lock().lines.len())
    }
}

impl Printk {
    pub fn new() -> Self {
        Self::default()
    }

    /// `printk(level fmt, ...)`. A format that ends without "\n" leaves the record open
    /// for [`Printk::cont`]; the kernel closes it at the next non-continuation record anyway.
    pub fn printk(&self, level: Level, args: fmt::Arguments<'_>) {
        let mut text = String::new();
        let _ = text.write_fmt(args);
        let mut b = self.buf.lock();
        let open = !text.ends_with('\n');
        for (i, part) in text.trim_end_matches('\n').split('\n').enumerate() {
            // A "\n" inside one printk starts a new record at the same level.
            let _ = i;
            b.lines.push(LogLine {
                level,
                text: String::from(part),
            });
        }
        b.open = open;
    }

    /// `pr_cont`: append to the open record, or start a new one if none is open.
    pub fn cont(&self, args: fmt::Arguments<'_>) {
        let mut text = String::new();
        let _ = text.write_fmt(args);
        let mut b = self.buf.lock();
        let ends = text.ends_with('\n');
        let body = text.trim_end_matches('\n');
        if b.open {
            if let Some(last) = b.lines.last_mut() {
                last.text.push_str(body);
            }
        } else {
            b.lines.push(LogLine {
                level: Level::Info,
                text: String::from(body),
            });
        }
        b.open = !ends;
    }

    pub fn info(&self, args: fmt::Arguments<'_>) {
        self.printk(Level::Info, args)
    }
    pub fn debug(&self, args: fmt::Arguments<'_>) {
        self.printk(Level::Debug, args)
    }
    pub fn notice(&self, args: fmt::Arguments<'_>) {
        self.printk(Level::Notice, args)
    }
    pub fn warn(&self, args: fmt::Arguments<'_>) {
        self.printk(Level::Warning, args)
    }
    pub fn err(&self, args: fmt::Arguments<'_>) {
        self.printk(Level::Err, args)
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.buf.lock().lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the records from index `from` on.
    pub fn lines_from(&self, from: usize) -> Vec<LogLine> {
        let b = self.buf.lock();
        b.lines.get(from..).map(|s| s.to_vec()).unwrap_or_default()
    }

    /// A copy of every record.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines_from(0)
    }

    /// Remove and return the records from index `from` on (what one script call printed).
    pub fn take_from(&self, from: usize) -> Vec<LogLine> {
        let mut b = self.buf.lock();
        if from >= b.lines.len() {
            return Vec::new();
        }
        b.open = false;
        b.lines.split_off(from)
    }

    /// Remove and return every record (used by the script interpreter to show what one call printed).
    pub fn drain(&self) -> Vec<LogLine> {
        let mut b = self.buf.lock();
        b.open = false;
        core::mem::take(&mut b.lines)
    }
}

/// `pr_info(fmt, ...)` on a [`Printk`] handle.
#[macro_export]
macro_rules! pr_info {
    ($log:expr, $($arg:tt)*) => { $log.info(format_args!($($arg)*)) };
}
/// `pr_debug`/`printk(KERN_DEBUG ...)` on a [`Printk`] handle.
#[macro_export]
macro_rules! pr_debug {
    ($log:expr, $($arg:tt)*) => { $log.debug(format_args!($($arg)*)) };
}
/// `pr_notice`.
#[macro_export]
macro_rules! pr_notice {
    ($log:expr, $($arg:tt)*) => { $log.notice(format_args!($($arg)*)) };
}
/// `pr_warn`.
#[macro_export]
macro_rules! pr_warn {
    ($log:expr, $($arg:tt)*) => { $log.warn(format_args!($($arg)*)) };
}
/// `pr_err`.
#[macro_export]
macro_rules! pr_err {
    ($log:expr, $($arg:tt)*) => { $log.err(format_args!($($arg)*)) };
}
/// `pr_alert`.
#[macro_export]
macro_rules! pr_alert {
    ($log:expr, $($arg:tt)*) => { $log.printk($crate::printk::Level::Alert, format_args!($($arg)*)) };
}
/// `pr_emerg`.
#[macro_export]
macro_rules! pr_emerg {
    ($log:expr, $($arg:tt)*) => { $log.printk($crate::printk::Level::Emerg, format_args!($($arg)*)) };
}
/// `printk` without a level (KERN_DEFAULT: the default message level, warning).
#[macro_export]
macro_rules! printk_default {
    ($log:expr, $($arg:tt)*) => { $log.printk($crate::printk::Level::Warning, format_args!($($arg)*)) };
}
/// `pr_cont`.
#[macro_export]
macro_rules! pr_cont {
    ($log:expr, $($arg:tt)*) => { $log.cont(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cont_appends_to_open_record() {
        let p = Printk::new();
        pr_info!(p, "BIOS-e820: [mem {:#018x}] ", 0u64);
        pr_cont!(p, "usable\n");
        pr_info!(p, "next\n");
        let l = p.lines();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].text, "BIOS-e820: [mem 0x0000000000000000] usable");
        assert_eq!(l[1].text, "next");
    }

    #[test]
    fn clones_share_the_buffer() {
        let p = Printk::new();
        let q = p.clone();
        pr_debug!(q, "x\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p.lines()[0].level, Level::Debug);
    }
}
