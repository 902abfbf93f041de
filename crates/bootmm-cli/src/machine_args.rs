//! The options that choose the machine to boot: a preset size, an e820 file, a real boot
//! log, or this host; plus the kernel era and extra command-line words.
//!
//! Only one source of the memory map may be given (`--mem`, `--e820`, `--from-dmesg`,
//! `--from-host`); the default is the qemu-4g preset. `--cmdline` is appended to the
//! source's own command line (a log's `Command line:`), never replacing it.

use bootmm::era::{Arch, DEFAULT_VERSION};
use bootmm::klib::cmdline::memparse_checked;
use bootmm::{Era, KernelVersion, Machine};

use crate::logread::LogInputs;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct MachineArgs {
    /// RAM of a QEMU pc guest (e.g. 512M, 4G, 0x100000000)
    #[arg(long, value_name = "SIZE")]
    pub mem: Option<String>,
    /// Possible CPUs
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
    /// Read the firmware map from a file (START END TYPE, START +SIZE TYPE, or BIOS-e820 lines)
    #[arg(long, value_name = "FILE")]
    pub e820: Option<std::path::PathBuf>,
    /// Take the machine from a real boot log
    #[arg(long = "from-dmesg", value_name = "LOG")]
    pub from_dmesg: Option<std::path::PathBuf>,
    /// Take the machine from this host (/sys/firmware/memmap, CPU count)
    #[arg(long = "from-host")]
    pub from_host: bool,
    /// Words appended to the machine's kernel command line
    #[arg(long, value_name = "\"...\"")]
    pub cmdline: Option<String>,
    /// Kernel version to model (e.g. 4.4, 5.10.198, 6.18); default: the log's, else 6.18
    #[arg(long, value_name = "VERSION")]
    pub kernel: Option<String>,
    /// Model a 32-bit kernel (i386; "pae" for CONFIG_X86_PAE)
    #[arg(long, value_name = "i386|pae")]
    pub i386: Option<String>,
}

impl MachineArgs {
    /// Build the machine these options describe, with notes on every default a log lacked.
    pub fn build_with_notes(&self) -> Result<(Machine, Vec<String>), String> {
        let sources = [
            self.mem.is_some(),
            self.e820.is_some(),
            self.from_dmesg.is_some(),
            self.from_host,
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if sources > 1 {
            return Err(String::from(
                "--mem, --e820, --from-dmesg and --from-host each choose the memory map; give only one",
            ));
        }
        if self.cpus.is_some() && (self.from_dmesg.is_some() || self.from_host) {
            return Err(String::from(
                "--cpus conflicts with --from-dmesg/--from-host, which give the CPU count",
            ));
        }
        let mut notes = Vec::new();
        let mut m = if let Some(s) = &self.mem {
            let bytes = match memparse_checked(s) {
                Ok((v, "")) => v,
                _ => return Err(format!("--mem {s:?}: expected a size like 512M or 4G")),
            };
            Machine::qemu(bytes, self.cpus.unwrap_or(2))?
        } else if let Some(p) = &self.e820 {
            let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Machine::from_e820_text(&t).map_err(|e| format!("{}: {e}", p.display()))?
        } else if let Some(p) = &self.from_dmesg {
            let t = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let t = String::from_utf8_lossy(&t);
            let inp = LogInputs::parse(&t);
            let (mut m, n) = inp
                .to_machine_with_report()
                .map_err(|e| format!("{}: {e}", p.display()))?;
            m.name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(m.name);
            notes = n;
            m
        } else if self.from_host {
            Machine::from_host()?
        } else {
            Machine::qemu_4g()
        };
        if let Some(c) = self.cpus {
            if c == 0 {
                return Err(String::from("--cpus 0: a machine needs at least one CPU"));
            }
            m.cpus = c;
            m.nr_cpus = m.nr_cpus.max(c);
        }
        let arch = match self.i386.as_deref() {
            None => m.era.arch,
            Some("pae") => Arch::I386 { pae: true },
            Some("i386") | Some("nopae") => Arch::I386 { pae: false },
            Some(x) => return Err(format!("--i386 {x:?}: expected i386 or pae")),
        };
        if let Some(k) = &self.kernel {
            let v = KernelVersion::parse(k)
                .ok_or_else(|| format!("--kernel {k:?}: expected a version like 6.6 or 4.19.1"))?;
            m.era = Era::new(v, arch);
            m.era.release = k.clone();
        } else if self.from_dmesg.is_none() && !self.from_host {
            m.era = Era::new(DEFAULT_VERSION, arch);
        } else {
            m.era.arch = arch;
        }
        if self.from_dmesg.is_none() {
            // A build fact that follows the kernel version (a log gives its own).
            m.image.realmode_size = bootmm::machine::default_realmode_size(&m.era);
        }
        if let Some(extra) = &self.cmdline {
            if !m.cmdline.is_empty() {
                m.cmdline.push(' ');
            }
            m.cmdline.push_str(extra);
        }
        Ok((m, notes))
    }

    /// The machine these options describe (default: qemu-4g).
    #[allow(dead_code)] // for subcommands that do not report defaults
    pub fn build(&self) -> Result<Machine, String> {
        self.build_with_notes().map(|(m, _)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_conflicts() {
        let m = MachineArgs::default().build().unwrap();
        assert_eq!(m.name, "qemu-4g");
        assert_eq!(m.era.version, DEFAULT_VERSION);
        let a = MachineArgs {
            mem: Some("512M".into()),
            cpus: Some(4),
            kernel: Some("4.4".into()),
            cmdline: Some("mem=256M".into()),
            ..Default::default()
        };
        let m = a.build().unwrap();
        assert_eq!(
            (m.cpus, m.era.version, m.cmdline.as_str()),
            (4, KernelVersion::new(4, 4, 0), "mem=256M")
        );
        let bad = MachineArgs {
            mem: Some("1G".into()),
            from_host: true,
            ..Default::default()
        };
        assert!(bad.build().unwrap_err().contains("only one"));
        assert!(MachineArgs {
            mem: Some("lots".into()),
            ..Default::default()
        }
        .build()
        .is_err());
        assert!(MachineArgs {
            kernel: Some("banana".into()),
            ..Default::default()
        }
        .build()
        .is_err());
    }
}
