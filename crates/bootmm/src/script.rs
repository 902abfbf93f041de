// SPDX-License-Identifier: GPL-2.0-only
//! `bootmm script`: drive a simulated kernel with C-style calls, one per line.
//!
//! The kernel has no such interpreter: its memblock test suite (tools/testing/memblock) calls the
//! functions from C and checks the arrays with `ASSERT_EQ`. A script does the same from text:
//! `memblock_add(0x100000, 32K);`, `p = memblock_alloc(SZ_4K, PAGE_SIZE);`,
//! `ASSERT_EQ(memblock.reserved.cnt, 1);`. Each call is looked up in a table of
//! [`CallSpec`]s (see [`CALL_TABLES`]), so other subsystems add their calls by adding a table.

mod highmem_calls;
mod lexer;
mod memblock_calls;
mod page_calls;
mod percpu_calls;
mod slab_calls;
mod vmalloc_calls;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::kernel::Kernel;
use crate::mm::memblock::{MemblockFlags, MemblockType, RegionType, MEMBLOCK_ALLOC_ANYWHERE};
use crate::printk::LogLine;
use lexer::{tokenize, Tok, Token};

pub use highmem_calls::HIGHMEM_CALLS;
pub use memblock_calls::MEMBLOCK_CALLS;
pub use page_calls::{ProcFile, PAGE_CALLS};
pub use percpu_calls::PERCPU_CALLS;
pub use slab_calls::SLAB_CALLS;
pub use vmalloc_calls::VMALLOC_CALLS;

/// Every table of calls the interpreter knows, searched in order.
pub static CALL_TABLES: &[&[CallSpec]] = &[
    MEMBLOCK_CALLS,
    PAGE_CALLS,
    PERCPU_CALLS,
    SLAB_CALLS,
    VMALLOC_CALLS,
    HIGHMEM_CALLS,
    SCRIPT_CALLS,
];

/// A value an argument expression evaluates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i128),
    /// `memblock.memory` / `memblock.reserved` (`&` optional).
    Type(RegionType),
    /// A file a script may `cat` (a string literal naming it).
    File(ProcFile),
    /// Any other string literal (a cache name); its text is the argument's source.
    Str,
}

/// What a call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A pointer or `phys_addr_t` (printed as 0x + 16 hex digits).
    Addr(u64),
    /// A failed allocation.
    Null,
    /// A `struct page *`, shown as its pfn and physical address; scripts hold the physical
    /// address.
    Page(u64),
    Int(i64),
    Bool(bool),
    Void,
}

impl Ret {
    /// The value a script variable assigned from this return holds.
    pub fn as_value(&self) -> Value {
        Value::Int(match *self {
            Ret::Addr(a) | Ret::Page(a) => a as i128,
            Ret::Null | Ret::Void => 0,
            Ret::Int(i) => i as i128,
            Ret::Bool(b) => b as i128,
        })
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Addr(a) => write!(f, "0x{a:016x}"),
            Ret::Null => write!(f, "NULL"),
            Ret::Page(a) => write!(f, "page:pfn {:#x} (0x{a:016x})", a >> 12),
            Ret::Int(i) => write!(f, "{i}"),
            Ret::Bool(b) => write!(f, "{b}"),
            Ret::Void => Ok(()),
        }
    }
}

/// The state of one `struct memblock_type`, as `memblock_dump_all()` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeState {
    pub name: &'static str,
    pub cnt: usize,
    pub max: usize,
    pub total_size: u64,
    /// (base, size, nid, flags)
    pub regions: Vec<(u64, u64, i32, u32)>,
}

impl From<&MemblockType> for TypeState {
    fn from(t: &MemblockType) -> Self {
        TypeState {
            name: t.name,
            cnt: t.cnt,
            max: t.max,
            total_size: t.total_size,
            regions: t
                .regions
                .iter()
                .map(|r| (r.base, r.size, r.nid, r.flags.bits()))
                .collect(),
        }
    }
}

/// Both arrays and the attributes of `struct memblock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpState {
    pub memory: TypeState,
    pub reserved: TypeState,
    pub bottom_up: bool,
    pub current_limit: u64,
}

/// One line that ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// 1-based line number in the script.
    pub line: usize,
    /// The variable or kernel setting assigned (`p0 = memblock_alloc(...)`), if any.
    pub assign: Option<String>,
    pub call: String,
    /// The arguments as written.
    pub arg_text: Vec<String>,
    /// The arguments as evaluated.
    pub args: Vec<Value>,
    pub ret: Ret,
    /// For `memblock_dump_all()`: the arrays.
    pub dump: Option<Box<DumpState>>,
    /// What the kernel log gained during the call.
    pub log: Vec<LogLine>,
    /// What the call printed to its own output (`cat`), if anything.
    pub output: Option<String>,
    /// Something the reader should know that is not an error (a call the kernel ignores).
    pub note: Option<String>,
}

/// A line that could not run. Later lines still do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
    pub log: Vec<LogLine>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What one line produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Call(CallResult),
    Error(ScriptError),
}

/// The kind of value a parameter takes; arguments are checked against it before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `phys_addr_t` / pointer / size: 0 ..= 2^64-1.
    U64,
    /// `int nid`: any `int`.
    Nid,
    /// `enum memblock_flags`: only known bits.
    Flags,
    /// `bool`: 0 or 1.
    Bool,
    /// `struct memblock_type *`.
    Type,
    /// `int c` of memset/memchr_inv: 0 ..= 255.
    Byte,
    /// Any integer (assertions).
    Any,
    /// `gfp_t`: the era's numeric mask, checked against the era's flags.
    Gfp,
    /// `unsigned int order`.
    Order,
    /// A file path for `cat`.
    File,
    /// `const char *`: a string literal.
    Str,
}

/// One parameter of a call.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
}

/// A checked argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    U64(u64),
    I32(i32),
    Flags(MemblockFlags),
    Bool(bool),
    Type(RegionType),
    Any(i128),
    Gfp(crate::include::gfp::Gfp),
    Order(u32),
    File(ProcFile),
    /// A string argument: its text is in [`Args::text`].
    Str,
}

/// The checked arguments of one call, with their source text.
pub struct Args<'a> {
    pub vals: Vec<Arg>,
    pub text: &'a [String],
}

impl Args<'_> {
    pub fn u64(&self, i: usize) -> u64 {
        match self.vals.get(i) {
            Some(Arg::U64(v)) => *v,
            _ => 0,
        }
    }
    pub fn nid(&self, i: usize) -> i32 {
        match self.vals.get(i) {
            Some(Arg::I32(v)) => *v,
            _ => 0,
        }
    }
    pub fn flags(&self, i: usize) -> MemblockFlags {
        match self.vals.get(i) {
            Some(Arg::Flags(v)) => *v,
            _ => MemblockFlags::NONE,
        }
    }
    pub fn bool(&self, i: usize) -> bool {
        matches!(self.vals.get(i), Some(Arg::Bool(true)))
    }
    pub fn ty(&self, i: usize) -> RegionType {
        match self.vals.get(i) {
            Some(Arg::Type(t)) => *t,
            _ => RegionType::Memory,
        }
    }
    pub fn byte(&self, i: usize) -> u8 {
        match self.vals.get(i) {
            Some(Arg::I32(v)) => *v as u8,
            _ => 0,
        }
    }
    pub fn gfp(&self, i: usize) -> crate::include::gfp::Gfp {
        match self.vals.get(i) {
            Some(Arg::Gfp(g)) => *g,
            _ => crate::include::gfp::Gfp::empty(),
        }
    }
    pub fn order(&self, i: usize) -> u32 {
        match self.vals.get(i) {
            Some(Arg::Order(o)) => *o,
            _ => 0,
        }
    }
    /// A string argument's text, without its quotes.
    pub fn str(&self, i: usize) -> &str {
        let t = self.text.get(i).map_or("", |t| t.trim());
        t.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(t)
    }
    pub fn file(&self, i: usize) -> Option<ProcFile> {
        match self.vals.get(i) {
            Some(Arg::File(f)) => Some(*f),
            _ => None,
        }
    }
    pub fn any(&self, i: usize) -> i128 {
        match self.vals.get(i) {
            Some(Arg::Any(v)) => *v,
            _ => 0,
        }
    }
}

/// What a call handler gives back besides its return value.
#[derive(Default)]
pub struct Extra {
    pub dump: Option<Box<DumpState>>,
    /// Text the call prints (`cat`).
    pub output: Option<String>,
    /// A remark on a call that succeeded (see [`CallResult::note`]).
    pub note: Option<String>,
}

/// A call handler: runs the kernel function on the kernel.
pub type Handler = fn(&mut Kernel, &Args<'_>, &mut Extra) -> Result<Ret, String>;

/// One entry of a dispatch table.
pub struct CallSpec {
    /// The kernel's name for the function.
    pub name: &'static str,
    pub params: &'static [Param],
    pub run: Handler,
}

/// Shorthand for a parameter list entry.
#[macro_export]
macro_rules! param {
    ($name:literal, $kind:ident) => {
        $crate::script::Param {
            name: $name,
            kind: $crate::script::Kind::$kind,
        }
    };
}

fn assert_op(k: &mut Kernel, a: &Args<'_>, op: &str, ok: bool) -> Result<Ret, String> {
    let _ = k;
    if ok {
        Ok(Ret::Void)
    } else {
        Err(format!(
            "{op}({}, {}) failed: {} vs {}",
            a.text.first().map(String::as_str).unwrap_or(""),
            a.text.get(1).map(String::as_str).unwrap_or(""),
            show_int(a.any(0)),
            show_int(a.any(1))
        ))
    }
}

fn show_int(v: i128) -> String {
    if v > 9 {
        format!("{v} ({v:#x})")
    } else {
        format!("{v}")
    }
}

/// The assertion macros of tools/testing/memblock/tests/common.h, and `msleep`.
pub static SCRIPT_CALLS: &[CallSpec] = &[
    CallSpec {
        // kernel/time/sleep_timeout.c: `msleep(unsigned int msecs)`: let time pass on the
        // model's clock (rate limits count in jiffies).
        name: "msleep",
        params: &[param!("msecs", U64)],
        run: |k, a, _| {
            let ms = u32::try_from(a.u64(0))
                .map_err(|_| format!("msleep: msecs is an unsigned int, not {}", a.u64(0)))?;
            k.jiffies.msleep(u64::from(ms));
            Ok(Ret::Void)
        },
    },
    CallSpec {
        name: "ASSERT_EQ",
        params: &[param!("a", Any), param!("b", Any)],
        run: |k, a, _| assert_op(k, a, "ASSERT_EQ", a.any(0) == a.any(1)),
    },
    CallSpec {
        name: "ASSERT_NE",
        params: &[param!("a", Any), param!("b", Any)],
        run: |k, a, _| assert_op(k, a, "ASSERT_NE", a.any(0) != a.any(1)),
    },
    CallSpec {
        name: "ASSERT_LT",
        params: &[param!("a", Any), param!("b", Any)],
        run: |k, a, _| assert_op(k, a, "ASSERT_LT", a.any(0) < a.any(1)),
    },
    CallSpec {
        name: "ASSERT_LE",
        params: &[param!("a", Any), param!("b", Any)],
        run: |k, a, _| assert_op(k, a, "ASSERT_LE", a.any(0) <= a.any(1)),
    },
];

/// Look a call up in [`CALL_TABLES`].
pub fn find_call(name: &str) -> Option<&'static CallSpec> {
    CALL_TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|c| c.name == name)
}

/// The interpreter: variables persist from line to line.
///
/// A script is run one line at a time ([`Interpreter::run_line`]), so a reader can stream
/// it: nothing of a line is kept once its [`Outcome`] is returned, but for the variables it
/// assigned, of which there are at most [`MAX_VARS`], named by at most [`MAX_NAME_LEN`] bytes.
#[derive(Default)]
pub struct Interpreter {
    vars: BTreeMap<String, i128>,
}

/// The most variables a script may hold.
pub const MAX_VARS: usize = 65536;
/// The longest variable name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Run a whole script on `k`, one [`Outcome`] per non-empty line.
pub fn run_script(k: &mut Kernel, src: &str) -> Vec<Outcome> {
    let mut it = Interpreter::for_kernel(k);
    src.lines()
        .enumerate()
        .filter_map(|(i, l)| it.run_line(k, i + 1, l))
        .collect()
}

/// Cut a line at `#` or `//`.
fn strip_comment(line: &str) -> &str {
    let mut end = line.len();
    if let Some(i) = line.find('#') {
        end = end.min(i);
    }
    if let Some(i) = line.find("//") {
        end = end.min(i);
    }
    &line[..end]
}

impl Interpreter {
    pub fn new() -> Self {
        Self::default()
    }

    /// An interpreter about to drive `k`: the allocator's reports name the calling process
    /// as the script's, and the call tree stops recording (a script's calls are its
    /// transcript; an endless one must not grow the tree without bound).
    pub fn for_kernel(k: &mut Kernel) -> Self {
        k.cpus.set_comm(k.cpus.current(), "bootmm-script");
        k.trace.set_recording(false);
        Self::default()
    }

    /// Run one line; `None` for blank and comment-only lines.
    pub fn run_line(&mut self, k: &mut Kernel, line: usize, text: &str) -> Option<Outcome> {
        let code = strip_comment(text).trim();
        if code.is_empty() || code == ";" {
            return None;
        }
        let log_start = k.printk.len();
        let r = self.exec(k, line, code);
        // What the call printed leaves the log with its outcome, so the log never grows
        // past what it held before the script.
        let log = k.printk.take_from(log_start);
        Some(match r {
            Ok(mut c) => {
                c.log = log;
                Outcome::Call(c)
            }
            Err(message) => Outcome::Error(ScriptError { line, message, log }),
        })
    }

    fn exec(&mut self, k: &mut Kernel, line: usize, code: &str) -> Result<CallResult, String> {
        let toks = tokenize(code)?;
        let mut toks: &[Token] = &toks;
        if let Some(Token { tok: Tok::Semi, .. }) = toks.last() {
            toks = &toks[..toks.len() - 1];
        }
        if toks.is_empty() {
            return Err("empty statement".into());
        }
        // `name = ...`
        let mut assign = None;
        if let [Token {
            tok: Tok::Ident(name),
            ..
        }, Token {
            tok: Tok::Assign, ..
        }, ..] = toks
        {
            if name.contains('.') {
                return Err(format!("cannot assign to `{name}`"));
            }
            assign = Some(name.clone());
            toks = &toks[2..];
        }
        let is_call = matches!(
            toks,
            [Token { tok: Tok::Ident(n), .. }, Token { tok: Tok::LParen, .. }, ..] if !n.contains('.')
        );
        if !is_call {
            let Some(target) = assign else {
                return Err(format!(
                    "expected a call like `memblock_add(base, size);`, found `{code}`"
                ));
            };
            let mut p = Parser {
                toks,
                pos: 0,
                k,
                vars: &self.vars,
                depth: 0,
            };
            let v = p.expr()?;
            p.end()?;
            let Value::Int(n) = v else {
                return Err(format!("cannot assign a memblock type to `{target}`"));
            };
            self.set(k, &target, n)?;
            let text = toks_text(code, toks);
            return Ok(CallResult {
                line,
                assign: Some(target),
                call: String::new(),
                arg_text: alloc::vec![text],
                args: alloc::vec![Value::Int(n)],
                ret: Ret::Void,
                dump: None,
                log: Vec::new(),
                output: None,
                note: None,
            });
        }
        let Tok::Ident(name) = &toks[0].tok else {
            unreachable_err()?
        };
        let name = name.clone();
        // Split the arguments at top-level commas.
        let inner_start = 2;
        let mut depth = 0usize;
        let mut close = None;
        for (i, t) in toks.iter().enumerate().skip(inner_start) {
            match t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen if depth == 0 => {
                    close = Some(i);
                    break;
                }
                Tok::RParen => depth -= 1,
                _ => {}
            }
        }
        let close = close.ok_or_else(|| format!("missing `)` in call to {name}"))?;
        if close + 1 != toks.len() {
            return Err(format!(
                "unexpected `{}` after the call to {name}",
                toks_text(code, &toks[close + 1..])
            ));
        }
        let inner = &toks[inner_start..close];
        let mut arg_toks: Vec<&[Token]> = Vec::new();
        if !inner.is_empty() {
            let mut start = 0;
            let mut depth = 0usize;
            for (i, t) in inner.iter().enumerate() {
                match t.tok {
                    Tok::LParen => depth += 1,
                    Tok::RParen => depth = depth.saturating_sub(1),
                    Tok::Comma if depth == 0 => {
                        arg_toks.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            arg_toks.push(&inner[start..]);
        }
        let spec = find_call(&name).ok_or_else(|| format!("unknown call `{name}`"))?;
        if let Some(i) = arg_toks.iter().position(|t| t.is_empty()) {
            if arg_toks.len() > 1 {
                let what = spec
                    .params
                    .get(i)
                    .map_or(String::new(), |p| format!(" ({})", p.name));
                return Err(format!(
                    "{name}: argument {}{what} is empty (two commas in a row, or a comma at an end)",
                    i + 1
                ));
            }
        }
        if arg_toks.len() != spec.params.len() {
            let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
            return Err(format!(
                "{name} takes {} argument{} ({}), got {}",
                spec.params.len(),
                if spec.params.len() == 1 { "" } else { "s" },
                names.join(", "),
                arg_toks.len()
            ));
        }
        let mut args = Vec::new();
        let mut arg_text = Vec::new();
        for (i, at) in arg_toks.iter().enumerate() {
            if at.is_empty() {
                return Err(format!(
                    "{name}: argument {} ({}) is empty",
                    i + 1,
                    spec.params[i].name
                ));
            }
            let mut p = Parser {
                toks: at,
                pos: 0,
                k,
                vars: &self.vars,
                depth: 0,
            };
            let v = p.expr().and_then(|v| p.end().map(|_| v)).map_err(|e| {
                format!("{name}: argument {} ({}): {e}", i + 1, spec.params[i].name)
            })?;
            args.push(v);
            arg_text.push(toks_text(code, at));
        }
        let mut vals = Vec::new();
        for (i, (v, p)) in args.iter().zip(spec.params).enumerate() {
            vals.push(check_arg(&k.era, *v, p.kind).map_err(|e| {
                format!(
                    "{name}: argument {} ({}) = {}: {e}",
                    i + 1,
                    p.name,
                    arg_text[i]
                )
            })?);
        }
        let a = Args {
            vals,
            text: &arg_text,
        };
        let mut extra = Extra::default();
        let ret = (spec.run)(k, &a, &mut extra)?;
        if let Some(target) = &assign {
            let Value::Int(v) = ret.as_value() else {
                unreachable_err()?
            };
            self.set(k, target, v)?;
        }
        Ok(CallResult {
            line,
            assign,
            call: name,
            arg_text,
            args,
            ret,
            dump: extra.dump,
            log: Vec::new(),
            output: extra.output,
            note: extra.note,
        })
    }

    fn set(&mut self, k: &mut Kernel, target: &str, v: i128) -> Result<(), String> {
        match target {
            "ARCH_LOW_ADDRESS_LIMIT" => {
                k.memblock.arch_low_address_limit = u64::try_from(v)
                    .map_err(|_| format!("ARCH_LOW_ADDRESS_LIMIT must be 0 ..= 2^64-1, not {v}"))?;
            }
            "memblock_debug" => k.memblock.debug = v != 0,
            _ if constant(target).is_some()
                || target.starts_with("SZ_")
                || crate::include::gfp::gfp_constant(&k.era, target).is_some() =>
            {
                return Err(format!("`{target}` is a constant"));
            }
            _ => {
                if target.len() > MAX_NAME_LEN {
                    return Err(format!(
                        "a variable name is at most {MAX_NAME_LEN} bytes; this one has {}",
                        target.len()
                    ));
                }
                if self.vars.len() >= MAX_VARS && !self.vars.contains_key(target) {
                    return Err(format!("a script holds at most {MAX_VARS} variables"));
                }
                self.vars.insert(target.to_string(), v);
            }
        }
        Ok(())
    }
}

fn unreachable_err<T>() -> Result<T, String> {
    Err("internal error: malformed statement".into())
}

/// The source text a run of tokens came from.
fn toks_text(code: &str, toks: &[Token]) -> String {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => code[a.start..b.end].to_string(),
        _ => String::new(),
    }
}

fn check_arg(era: &crate::era::Era, v: Value, kind: Kind) -> Result<Arg, String> {
    let int = |v: Value| match v {
        Value::Int(n) => Ok(n),
        Value::Type(t) => Err(format!("expected a number, got memblock.{}", t.name())),
        Value::File(f) => Err(format!("expected a number, got \"{}\"", f.path())),
        Value::Str => Err("expected a number, got a string".to_string()),
    };
    Ok(match kind {
        Kind::U64 => {
            let n = int(v)?;
            Arg::U64(u64::try_from(n).map_err(|_| "must be between 0 and 2^64-1".to_string())?)
        }
        Kind::Nid => {
            let n = int(v)?;
            Arg::I32(i32::try_from(n).map_err(|_| "a node id must fit in an int".to_string())?)
        }
        Kind::Flags => {
            let n = int(v)?;
            let bits = u32::try_from(n).map_err(|_| "not a memblock flags value".to_string())?;
            Arg::Flags(
                MemblockFlags::from_bits(bits)
                    .ok_or_else(|| format!("unknown memblock flag bits {bits:#x}"))?,
            )
        }
        Kind::Bool => match int(v)? {
            0 => Arg::Bool(false),
            1 => Arg::Bool(true),
            n => return Err(format!("expected true or false, got {n}")),
        },
        Kind::Type => match v {
            Value::Type(t) => Arg::Type(t),
            _ => return Err("expected memblock.memory or memblock.reserved".into()),
        },
        Kind::Gfp => {
            let n = int(v)?;
            let raw = u32::try_from(n).map_err(|_| "not a gfp_t value".to_string())?;
            Arg::Gfp(crate::include::gfp::gfp_from_raw(era, raw).ok_or_else(|| {
                format!(
                    "{raw:#x} has GFP bits this kernel ({}) does not define",
                    era.release
                )
            })?)
        }
        Kind::Order => {
            let n = int(v)?;
            Arg::Order(u32::try_from(n).map_err(|_| "an order is an unsigned int".to_string())?)
        }
        Kind::File => match v {
            Value::File(f) => Arg::File(f),
            Value::Str => return Err(format!("no such file (known: {})", ProcFile::known())),
            _ => return Err("expected a file name such as \"/proc/buddyinfo\"".into()),
        },
        Kind::Str => match v {
            Value::Str | Value::File(_) => Arg::Str,
            _ => return Err("expected a string such as \"my_cache\"".into()),
        },
        Kind::Byte => {
            let n = int(v)?;
            if !(0..=255).contains(&n) {
                return Err("a byte value must be 0..=255".into());
            }
            Arg::I32(n as i32)
        }
        Kind::Any => match v {
            Value::Int(n) => Arg::Any(n),
            Value::Type(t) => Arg::Any(t as i128),
            Value::File(_) | Value::Str => return Err("expected a number".into()),
        },
    })
}

/// The kernel constants a script may name.
pub fn constant(name: &str) -> Option<i128> {
    use crate::include::{NUMA_NO_NODE, PAGE_SIZE, SMP_CACHE_BYTES};
    if let Some(f) = crate::mm::slab::SlabFlags::from_name(name) {
        return Some(i128::from(f.bits()));
    }
    Some(match name {
        "NUMA_NO_NODE" => NUMA_NO_NODE as i128,
        "MAX_NUMNODES" => crate::mm::memblock::MAX_NUMNODES as i128,
        "MEMBLOCK_ALLOC_ACCESSIBLE" => 0,
        "MEMBLOCK_ALLOC_NOLEAKTRACE" => 1,
        "MEMBLOCK_ALLOC_ANYWHERE" => MEMBLOCK_ALLOC_ANYWHERE as i128,
        "PHYS_ADDR_MAX" => u64::MAX as i128,
        "MEMBLOCK_LOW_LIMIT" => 0,
        "MEMBLOCK_NONE" => 0,
        "MEMBLOCK_HOTPLUG" => MemblockFlags::HOTPLUG.bits() as i128,
        "MEMBLOCK_MIRROR" => MemblockFlags::MIRROR.bits() as i128,
        "MEMBLOCK_NOMAP" => MemblockFlags::NOMAP.bits() as i128,
        "MEMBLOCK_DRIVER_MANAGED" => MemblockFlags::DRIVER_MANAGED.bits() as i128,
        "MEMBLOCK_RSRV_NOINIT" => MemblockFlags::RSRV_NOINIT.bits() as i128,
        "MEMBLOCK_RSRV_KERN" => MemblockFlags::RSRV_KERN.bits() as i128,
        "PAGE_SIZE" => PAGE_SIZE as i128,
        "SMP_CACHE_BYTES" => SMP_CACHE_BYTES as i128,
        "INIT_MEMBLOCK_REGIONS" => crate::mm::memblock::INIT_MEMBLOCK_REGIONS as i128,
        "true" => 1,
        "false" | "NULL" => 0,
        _ => return sz_constant(name),
    })
}

/// `SZ_1K` … `SZ_8G` (include/linux/sizes.h).
fn sz_constant(name: &str) -> Option<i128> {
    let rest = name.strip_prefix("SZ_")?;
    let (digits, unit) = match rest.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    if !n.is_power_of_two() {
        return None;
    }
    Some((n as i128) << shift)
}

/// How deeply a script expression may nest (parentheses, unary operators, `[index]`): the
/// parser recurses, and a C compiler's own limit is of this order (C11 asks for 63 levels).
pub const MAX_EXPR_DEPTH: u32 = 256;

/// Expression parser over one argument's tokens: `|` below `+ -` below `*`, unary `- ~ &`.
struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    k: &'a Kernel,
    vars: &'a BTreeMap<String, i128>,
    /// Nesting so far, bounded by [`MAX_EXPR_DEPTH`].
    depth: u32,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn end(&self) -> Result<(), String> {
        match self.toks.get(self.pos) {
            None => Ok(()),
            Some(t) => Err(format!("unexpected `{}`", t.tok)),
        }
    }
    fn int(v: Value) -> Result<i128, String> {
        match v {
            Value::Int(n) => Ok(n),
            Value::Type(t) => Err(format!("memblock.{} is not a number", t.name())),
            Value::File(f) => Err(format!("\"{}\" is not a number", f.path())),
            Value::Str => Err("a string is not a number".into()),
        }
    }
    /// Run `f` one nesting level deeper, or refuse past [`MAX_EXPR_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<T, String> {
        if self.depth >= MAX_EXPR_DEPTH {
            return Err(format!(
                "expression nested more than {MAX_EXPR_DEPTH} levels deep"
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }
    fn expr(&mut self) -> Result<Value, String> {
        let mut v = self.sum()?;
        while self.peek() == Some(&Tok::Pipe) {
            self.pos += 1;
            let r = Self::int(self.sum()?)?;
            v = Value::Int(Self::int(v)? | r);
        }
        Ok(v)
    }
    fn sum(&mut self) -> Result<Value, String> {
        let mut v = self.prod()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Plus) => true,
                Some(Tok::Minus) => false,
                _ => return Ok(v),
            };
            self.pos += 1;
            let r = Self::int(self.prod()?)?;
            let l = Self::int(v)?;
            v = Value::Int(
                if op {
                    l.checked_add(r)
                } else {
                    l.checked_sub(r)
                }
                .ok_or("overflow")?,
            );
        }
    }
    fn prod(&mut self) -> Result<Value, String> {
        let mut v = self.unary()?;
        while self.peek() == Some(&Tok::Star) {
            self.pos += 1;
            let r = Self::int(self.unary()?)?;
            v = Value::Int(Self::int(v)?.checked_mul(r).ok_or("overflow")?);
        }
        Ok(v)
    }
    fn unary(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                let n = Self::int(self.nested(Self::unary)?)?;
                Ok(Value::Int(n.checked_neg().ok_or("overflow")?))
            }
            Some(Tok::Tilde) => {
                self.pos += 1;
                let n = Self::int(self.nested(Self::unary)?)?;
                // `~` on a phys_addr_t / unsigned long.
                Ok(Value::Int(!(n as u64) as i128))
            }
            Some(Tok::Amp) => {
                self.pos += 1;
                self.nested(Self::unary)
            }
            _ => self.primary(),
        }
    }
    fn primary(&mut self) -> Result<Value, String> {
        let t = self.toks.get(self.pos).ok_or("missing value")?;
        self.pos += 1;
        match &t.tok {
            Tok::Num(n) => Ok(Value::Int(*n)),
            Tok::Str(s) => Ok(ProcFile::from_path(s).map_or(Value::Str, Value::File)),
            Tok::LParen => {
                let v = self.nested(Self::expr)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(v)
            }
            Tok::Ident(name) => self.path(name),
            other => Err(format!("unexpected `{other}`")),
        }
    }
    /// A name: a constant, a variable, or a field of `memblock`.
    fn path(&mut self, name: &str) -> Result<Value, String> {
        if let Some(v) = self.vars.get(name) {
            return Ok(Value::Int(*v));
        }
        if let Some(v) = constant(name) {
            return Ok(Value::Int(v));
        }
        if let Some(g) = crate::include::gfp::gfp_constant(&self.k.era, name) {
            return Ok(Value::Int(
                crate::include::gfp::gfp_to_raw(&self.k.era, g) as i128
            ));
        }
        let mb = &self.k.memblock;
        match name {
            "ARCH_LOW_ADDRESS_LIMIT" => return Ok(Value::Int(mb.arch_low_address_limit as i128)),
            "memblock_debug" => return Ok(Value::Int(mb.debug as i128)),
            "memblock.memory" => return Ok(Value::Type(RegionType::Memory)),
            "memblock.reserved" => return Ok(Value::Type(RegionType::Reserved)),
            "memblock.bottom_up" => return Ok(Value::Int(mb.bottom_up as i128)),
            "memblock.current_limit" => return Ok(Value::Int(mb.current_limit as i128)),
            _ => {}
        }
        let parts: Vec<&str> = name.split('.').collect();
        let ty = match parts.get(..2) {
            Some(["memblock", "memory"]) => &mb.memory,
            Some(["memblock", "reserved"]) => &mb.reserved,
            _ => return Err(format!("unknown name `{name}`")),
        };
        match parts.get(2..) {
            Some(["cnt"]) => Ok(Value::Int(ty.cnt as i128)),
            Some(["max"]) => Ok(Value::Int(ty.max as i128)),
            Some(["total_size"]) => Ok(Value::Int(ty.total_size as i128)),
            Some(["regions"]) => {
                // regions[i].field
                if self.peek() != Some(&Tok::LBracket) {
                    return Err(format!("`{name}` needs an index: {name}[i].base"));
                }
                self.pos += 1;
                let i = Self::int(self.nested(Self::expr)?)?;
                if self.peek() != Some(&Tok::RBracket) {
                    return Err("missing `]`".into());
                }
                self.pos += 1;
                let field = match self.toks.get(self.pos).map(|t| &t.tok) {
                    Some(Tok::Ident(f)) if f.starts_with('.') => f[1..].to_string(),
                    _ => {
                        return Err(format!(
                            "`{name}[{i}]` needs a field: .base, .size, .nid or .flags"
                        ))
                    }
                };
                self.pos += 1;
                let r = usize::try_from(i)
                    .ok()
                    .and_then(|i| ty.region(i))
                    .ok_or_else(|| format!("{name}[{i}] is beyond cnt ({})", ty.cnt))?;
                Ok(Value::Int(match field.as_str() {
                    "base" => r.base as i128,
                    "size" => r.size as i128,
                    "nid" => r.nid as i128,
                    "flags" => r.flags.bits() as i128,
                    f => return Err(format!("struct memblock_region has no field `{f}`")),
                }))
            }
            _ => Err(format!("unknown name `{name}`")),
        }
    }
}

#[cfg(test)]
mod tests;
