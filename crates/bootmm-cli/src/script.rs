// SPDX-License-Identifier: GPL-2.0-only
//! `bootmm script`: run a file of kernel calls against a simulated kernel and print what each
//! call returned, as a transcript or as JSON lines.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bootmm::script::{run_script, DumpState, Outcome, Ret, TypeState, Value};
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

fn read_source(file: &Option<PathBuf>) -> Result<String, String> {
    let mut s = String::new();
    match file {
        Some(p) if p.as_os_str() != "-" => {
            return std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()));
        }
        _ => std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?,
    };
    Ok(s)
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
pub fn run(args: &ScriptArgs, booted: impl FnOnce() -> Result<Kernel, String>) -> ExitCode {
    let src = match read_source(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bootmm script: {e}");
            return ExitCode::from(2);
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
            return ExitCode::from(2);
        }
    };
    // Only what the script's own calls print belongs to the transcript.
    k.printk.drain();
    let outcomes = run_script(&mut k, &src);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for o in &outcomes {
        match o {
            Outcome::Call(c) => {
                if args.json {
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
                }
            }
            Outcome::Error(e) => {
                failed = true;
                let _ = out.flush();
                eprintln!("bootmm script: line {}: {}", e.line, e.message);
                if args.json {
                    let mut obj = json!({"line": e.line, "error": e.message});
                    if !e.log.is_empty() {
                        obj["log"] =
                            json!(e.log.iter().map(|l| l.text.as_str()).collect::<Vec<_>>());
                    }
                    let _ = writeln!(out, "{obj}");
                } else {
                    for l in &e.log {
                        let _ = writeln!(out, "{}", l.text);
                    }
                }
            }
        }
    }
    let _ = out.flush();
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
