// SPDX-License-Identifier: GPL-2.0-only
//! The `bootmm` command's parts, as a library: the subcommands, the reader of real boot
//! logs (`logread`, the analysis layer's input side) and the checker that compares a log
//! with the model. The binary (`main.rs`) only parses its arguments and calls these; the
//! fuzz targets (`fuzz/`) call the readers directly.

/// Exit statuses, the same for every subcommand.
pub mod exit {
    /// Everything ran, and a check found every compared line alike.
    pub const OK: u8 = 0;
    /// The run failed: a line differs, a script line failed, or the boot stopped.
    pub const FAILED: u8 = 1;
    /// The input could not be used at all: a bad option, an unreadable or unusable file,
    /// a check with nothing to compare. Nothing was compared or run.
    pub const INPUT: u8 = 2;
    /// `check` only: the model's boot stopped early (an era not modelled yet, a boot
    /// error), so the lines after that point were not compared; none of those compared
    /// differs.
    pub const INCOMPLETE: u8 = 3;
}

pub mod boot;
pub mod cat;
pub mod check;
pub mod check_slabinfo;
pub mod check_zoneinfo;
pub mod diff;
pub mod fuzzing;
pub mod logconfig;
pub mod logread;
pub mod machine_args;
pub mod script;
pub mod slabinfo;
pub mod test_vmalloc;

/// The most bytes an input file may have: no boot log, firmware map, /proc dump or script
/// comes near it, and a device (`/dev/zero`) or a runaway file is refused instead of read
/// without end.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// The bytes of an input file, at most [`MAX_INPUT_BYTES`].
///
/// # Errors
/// The path and why: it cannot be read, or it is larger than the limit.
pub fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    f.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if out.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "{}: larger than {} MiB, more than any boot log, firmware map or /proc file; not read",
            path.display(),
            MAX_INPUT_BYTES >> 20
        ));
    }
    Ok(out)
}

/// The text of the file an option names, or the input-error exit after saying why (the
/// option's name when none was given, the path and the error when it cannot be read).
pub fn read_input_file(
    path: Option<&std::path::Path>,
    option: &str,
) -> Result<String, std::process::ExitCode> {
    let Some(path) = path else {
        eprintln!("bootmm: {option} needs a file");
        return Err(std::process::ExitCode::from(exit::INPUT));
    };
    match read_bounded(path) {
        Ok(t) => Ok(String::from_utf8_lossy(&t).into_owned()),
        Err(e) => {
            eprintln!("bootmm: {e}");
            Err(std::process::ExitCode::from(exit::INPUT))
        }
    }
}
