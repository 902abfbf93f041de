// SPDX-License-Identifier: GPL-2.0-only
//! `bootmm script`: run a file of kernel calls against a simulated kernel and print what each
//! call returned, as a transcript or as JSON lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bootmm::script::{DumpState, Interpreter, Outcome, Ret, ScriptError, TypeState, Value};
use bootmm::{Era, Kernel};
use serde_json::{json, Map, Value as Json};

/// Options of `bootmm script`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScriptArgs {
    /// The script to run (`-` or nothing: standard input).
    pub file: Option<PathBuf>,
    /// Run on an empty kernel (empty memblock, 64 GiB of lazily backed RAM), as the kernel's
    /// memblock test suite does, instead of a booted machine.
    #[arg(long)]
    pub bare: bool,
    /// One JSON object per call instead of a transcript.
    #[arg(long)]
    pub json: bool,
    /// The machine to boot first (ignored with --bare).
    #[command(flatten)]
    pub machine: crate::machine_args::MachineArgs,
}

/// The longest script line read, in bytes: a statement is one call, and a line past this is
/// not a script (`/dev/zero` has no line ends at all).
pub const MAX_LINE_LEN: usize = 64 << 10;

/// One line of input, without its line end.
enum ReadLine {
    Line(Vec<u8>),
    /// The line runs past [`MAX_LINE_LEN`]; reading stopped inside it.
    TooLong,
    Eof,
}

/// Read one `\n`-terminated line (a trailing `\r` removed), holding at most
/// [`MAX_LINE_LEN`] bytes of it.
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<ReadLine> {
    buf.clear();
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            if buf.is_empty() {
                return Ok(ReadLine::Eof);
            }
            break;
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > MAX_LINE_LEN {
            return Ok(ReadLine::TooLong);
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take + usize::from(done));
        if done {
            break;
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(ReadLine::Line(std::mem::take(buf)))
}

/// The script's source: a file, or standard input.
fn open_source(file: &Option<PathBuf>) -> Result<BufReader<Box<dyn Read>>, String> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            let f =
                std::fs::File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            if f.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(format!("cannot read {}: it is a directory", p.display()));
            }
            Ok(BufReader::new(Box::new(f)))
        }
        _ => Ok(BufReader::new(Box::new(std::io::stdin()))),
    }
}

fn type_json(t: &TypeState) -> Json {
    let regions: Vec<Json> = t
        .regions
        .iter()
        .map(|&(base, size, nid, flags)| json!({"base": base, "size": size, "nid": nid, "flags": flags}))
        .collect();
    json!({"name": t.name, "cnt": t.cnt, "max": t.max, "total_size": t.total_size, "regions": regions})
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Int(n) => {
            if let Ok(i) = i64::try_from(*n) {
                json!(i)
            } else if let Ok(u) = u64::try_from(*n) {
                json!(u)
            } else {
                json!(n.to_string())
            }
        }
        Value::Type(t) => json!(format!("memblock.{}", t.name())),
        Value::File(f) => json!(f.path()),
        Value::Str => json!("string"),
    }
}

fn ret_json(r: &Ret) -> Json {
    match r {
        Ret::Addr(a) | Ret::Page(a) => json!(a),
        Ret::Null | Ret::Void => Json::Null,
        Ret::Int(i) => json!(i),
        Ret::Bool(b) => json!(b),
    }
}

fn dump_json(obj: &mut Map<String, Json>, d: &DumpState) {
    obj.insert("memory".into(), type_json(&d.memory));
    obj.insert("reserved".into(), type_json(&d.reserved));
    obj.insert("bottom_up".into(), json!(d.bottom_up));
    obj.insert("current_limit".into(), json!(d.current_limit));
}

/// Run `bootmm script`. `booted` boots the selected machine when `--bare` is not given.
///
/// The script is read and run one line at a time, each outcome printed as soon as it is
/// known, so a script of any length runs in bounded memory. Exit status: 0 when every line
/// ran, 1 when some line failed, 2 when the script or the machine could not be read at all.
pub fn run(args: &ScriptArgs, booted: impl FnOnce() -> Result<Kernel, String>) -> ExitCode {
    let mut src = match open_source(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bootmm script: {e}");
            return ExitCode::from(crate::exit::INPUT);
        }
    };
    let kernel = if args.bare {
        Kernel::bare(Era::default()).map_err(|e| e.to_string())
    } else {
        booted()
    };
    let mut k = match kernel {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bootmm script: {e}");
            return ExitCode::from(crate::exit::INPUT);
        }
    };
    // Only what the script's own calls print belongs to the transcript.
    k.printk.drain();
    let mut it = Interpreter::for_kernel(&mut k);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    loop {
        // Before waiting for more input, show what is done (a pipe or a terminal feeding
        // the script a line at a time sees each answer at once).
        if src.buffer().is_empty() {
            let _ = out.flush();
        }
        let bytes = match read_line(&mut src, &mut buf) {
            Ok(ReadLine::Line(b)) => b,
            Ok(ReadLine::Eof) => break,
            Ok(ReadLine::TooLong) => {
                let _ = out.flush();
                eprintln!(
                    "bootmm script: line {}: longer than {} KiB: not a script; stopping",
                    lineno + 1,
                    MAX_LINE_LEN >> 10
                );
                return ExitCode::from(crate::exit::INPUT);
            }
            Err(e) => {
                let _ = out.flush();
                eprintln!("bootmm script: line {}: cannot read: {e}", lineno + 1);
                return ExitCode::from(crate::exit::INPUT);
            }
        };
        lineno += 1;
        let outcome = match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains('\0') => Some(Outcome::Error(ScriptError {
                line: lineno,
                message: "a NUL byte: not script text".into(),
                log: Vec::new(),
            })),
            Ok(text) => it.run_line(&mut k, lineno, text),
            Err(e) => Some(Outcome::Error(ScriptError {
                line: lineno,
                message: format!(
                    "not UTF-8 text (byte {:#04x} at column {})",
                    bytes[e.valid_up_to()],
                    e.valid_up_to() + 1
                ),
                log: Vec::new(),
            })),
        };
        if let Some(o) = outcome {
            failed |= print_outcome(&mut out, &o, args.json);
        }
        buf = bytes;
    }
    let _ = out.flush();
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Print one outcome; true when it is an error.
fn print_outcome(out: &mut impl Write, o: &Outcome, json: bool) -> bool {
    match o {
        Outcome::Call(c) => {
            if json {
                let mut obj = Map::new();
                obj.insert("line".into(), json!(c.line));
                if let Some(a) = &c.assign {
                    obj.insert("assign".into(), json!(a));
                }
                obj.insert("call".into(), json!(c.call));
                obj.insert(
                    "args".into(),
                    Json::Array(c.args.iter().map(value_json).collect()),
                );
                obj.insert("ret".into(), ret_json(&c.ret));
                if let Some(d) = &c.dump {
                    dump_json(&mut obj, d);
                }
                if let Some(text) = &c.output {
                    obj.insert("output".into(), json!(text));
                }
                if !c.log.is_empty() {
                    obj.insert(
                        "log".into(),
                        json!(c.log.iter().map(|l| l.text.as_str()).collect::<Vec<_>>()),
                    );
                }
                if let Some(n) = &c.note {
                    obj.insert("note".into(), json!(n));
                }
                let _ = writeln!(out, "{}", Json::Object(obj));
            } else {
                let lhs = match &c.assign {
                    Some(a) if c.call.is_empty() => format!("{a} = {}", c.arg_text.join(", ")),
                    Some(a) => format!("{a} = {}({})", c.call, c.arg_text.join(", ")),
                    None => format!("{}({})", c.call, c.arg_text.join(", ")),
                };
                match c.ret {
                    Ret::Void => {
                        let _ = writeln!(out, "{lhs}");
                    }
                    r => {
                        let _ = writeln!(out, "{lhs} = {r}");
                    }
                }
                for l in &c.log {
                    let _ = writeln!(out, "{}", l.text);
                }
                if let Some(text) = &c.output {
                    let _ = write!(out, "{text}");
                }
                if let Some(n) = &c.note {
                    let _ = out.flush();
                    eprintln!("bootmm script: line {}: note: {n}", c.line);
                }
            }
            false
        }
        Outcome::Error(e) => {
            let _ = out.flush();
            eprintln!("bootmm script: line {}: {}", e.line, e.message);
            if json {
                let mut obj = json!({"line": e.line, "error": e.message});
                if !e.log.is_empty() {
                    obj["log"] = json!(e.log.iter().map(|l| l.text.as_str()).collect::<Vec<_>>());
                }
                let _ = writeln!(out, "{obj}");
            } else {
                for l in &e.log {
                    let _ = writeln!(out, "{}", l.text);
                }
            }
            true
        }
    }
}
