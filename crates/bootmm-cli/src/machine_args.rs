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
    /// 5-level paging: a CPU with LA57 under a CONFIG_X86_5LEVEL kernel (4.14+), so that
    /// MAX_PHYSMEM_BITS is 52
    #[arg(long)]
    pub la57: bool,
    /// Split the QEMU guest's RAM into N NUMA nodes, as `-numa node` with equal sizes does
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
    /// An SRAT memory range: NID:START-END or NID:START+SIZE (END exclusive; K/M/G/T
    /// suffixes), ",hotplug" to mark it hot-pluggable; NID:none declares a CPU-only node.
    /// Repeat for every range; CPUs are spread over the nodes in contiguous blocks
    #[arg(long = "numa-node", value_name = "NID:RANGE")]
    pub numa_node: Vec<String>,
    /// A SLIT distance between two nodes, both ways: A,B=D (default 10 local, 20 remote;
    /// giving any distance gives the machine a SLIT)
    #[arg(long = "numa-distance", value_name = "A,B=D")]
    pub numa_distance: Vec<String>,
    /// A sysctl applied as boot finishes, e.g. `vm.min_free_kbytes=65536`,
    /// `vm.watermark_scale_factor=100`, `vm.lowmem_reserve_ratio="256 256 32 0 0"`. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
}

/// One `--numa-node` value: `(nid, Some((start, end, hotplug)))`, or `None` for `NID:none`.
type NodeArg = (u32, Option<(u64, u64, bool)>);

fn parse_numa_node(v: &str) -> Result<NodeArg, String> {
    let bad = |why: &str| {
        format!("--numa-node {v:?}: {why} (expected NID:START-END, NID:START+SIZE or NID:none)")
    };
    let (nid, rest) = v.split_once(':').ok_or_else(|| bad("missing ':'"))?;
    let nid: u32 = nid.trim().parse().map_err(|_| bad("bad node id"))?;
    let (range, flag) = match rest.split_once(',') {
        Some((r, f)) if f.trim() == "hotplug" => (r, true),
        Some(_) => return Err(bad("the only flag is ,hotplug")),
        None => (rest, false),
    };
    if range.trim() == "none" {
        return Ok((nid, None));
    }
    let num = |x: &str| match memparse_checked(x.trim()) {
        Ok((n, "")) => Ok(n),
        Err(bootmm::klib::cmdline::ParseError::Overflow) => {
            Err(bad(&format!("{x:?} does not fit in 64 bits")))
        }
        _ => Err(bad(&format!("bad size {x:?}"))),
    };
    let (start, end) = if let Some((a, b)) = range.split_once('+') {
        let a = num(a)?;
        (a, a.checked_add(num(b)?).ok_or_else(|| bad("range wraps"))?)
    } else if let Some((a, b)) = range.split_once('-') {
        (num(a)?, num(b)?)
    } else {
        return Err(bad("missing '-' or '+'"));
    };
    if end <= start {
        return Err(bad("the range is empty"));
    }
    Ok((nid, Some((start, end, flag))))
}

fn parse_numa_distance(v: &str) -> Result<(u32, u32, u8), String> {
    let bad = || format!("--numa-distance {v:?}: expected A,B=D, e.g. 0,1=20");
    let (pair, d) = v.split_once('=').ok_or_else(bad)?;
    let (a, b) = pair.split_once(',').ok_or_else(bad)?;
    let a = a.trim().parse().map_err(|_| bad())?;
    let b = b.trim().parse().map_err(|_| bad())?;
    let d: u64 = d.trim().parse().map_err(|_| bad())?;
    let d = u8::try_from(d).map_err(|_| {
        format!(
            "--numa-distance {v:?}: a SLIT distance is one byte (10 local, 11-254 remote, 255 unreachable), not {d}"
        )
    })?;
    Ok((a, b, d))
}

/// The firmware NUMA tables `--numa-node` and `--numa-distance` describe, for `cpus` CPUs.
fn explicit_numa(
    nodes: &[String],
    distances: &[String],
    cpus: u32,
) -> Result<bootmm::machine::FirmwareNuma, String> {
    use bootmm::machine::{FirmwareNuma, Slit, SratCpu, SratMemory};
    let mut fw = FirmwareNuma::default();
    let mut ids: Vec<u32> = Vec::new();
    for v in nodes {
        let (nid, r) = parse_numa_node(v)?;
        ids.push(nid);
        if let Some((start, end, hotplug)) = r {
            fw.memory.push(SratMemory {
                pxm: nid,
                nid,
                start,
                end,
                hotplug,
                nonvolatile: false,
            });
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        let n = ids.len() as u64;
        fw.cpus = (0..cpus)
            .map(|c| {
                let nid = ids[(u64::from(c) * n / u64::from(cpus)) as usize];
                SratCpu {
                    pxm: nid,
                    apic: c,
                    nid,
                }
            })
            .collect();
    }
    // The node ids first: the SLIT is as large as they make it.
    fw.validate()?;
    if !distances.is_empty() {
        let mut slit = Slit::uniform(ids.last().map_or(1, |m| m + 1));
        for d in distances {
            let (a, b, dist) = parse_numa_distance(d)?;
            slit.set(a, b, dist)
                .map_err(|e| format!("--numa-distance {d:?}: {e}"))?;
        }
        fw.slit = Some(slit);
    }
    fw.validate()?;
    Ok(fw)
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
        if self.nodes.is_some() && sources > 0 && self.mem.is_none() {
            return Err(String::from(
                "--nodes splits a QEMU guest's RAM (--mem); use --numa-node for other machines",
            ));
        }
        if self.nodes.is_some() && !self.numa_node.is_empty() {
            return Err(String::from(
                "--nodes and --numa-node both describe the nodes; give only one",
            ));
        }
        if !self.numa_distance.is_empty() && self.numa_node.is_empty() && self.nodes.is_none() {
            return Err(String::from(
                "--numa-distance needs nodes (--numa-node or --nodes)",
            ));
        }
        let mut notes = Vec::new();
        let mut mem_bytes = None;
        let mut m = if let Some(s) = &self.mem {
            let bytes = match memparse_checked(s) {
                Ok((v, "")) => v,
                Err(bootmm::klib::cmdline::ParseError::Overflow) => {
                    return Err(format!("--mem {s:?}: does not fit in 64 bits"))
                }
                _ => return Err(format!("--mem {s:?}: expected a size like 512M or 4G")),
            };
            mem_bytes = Some(bytes);
            let cpus = self.cpus.unwrap_or(2);
            match self.nodes {
                Some(n) => Machine::qemu_numa(bytes, cpus, &Machine::qemu_even_split(bytes, n)?)?,
                None => Machine::qemu(bytes, cpus)?,
            }
        } else if let Some(n) = self.nodes.filter(|_| sources == 0) {
            let bytes = 4 << 30;
            Machine::qemu_numa(
                bytes,
                self.cpus.unwrap_or(2),
                &Machine::qemu_even_split(bytes, n)?,
            )?
        } else if let Some(p) = &self.e820 {
            let t = String::from_utf8(crate::read_bounded(p)?)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            Machine::from_e820_text(&t).map_err(|e| format!("{}: {e}", p.display()))?
        } else if let Some(p) = &self.from_dmesg {
            let t = crate::read_bounded(p)?;
            let t = String::from_utf8_lossy(&t);
            let inp = LogInputs::parse(&t);
            for u in &inp.unreadable {
                notes.push(format!("{}:{}: {}", p.display(), u.line, u.value));
            }
            let (mut m, n) = inp
                .to_machine_with_report()
                .map_err(|e| format!("{}: {e}", p.display()))?;
            m.name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(m.name);
            notes.extend(n);
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
            if let Some(note) = v
                .check_release()
                .map_err(|e| format!("--kernel {k:?}: {e}"))?
            {
                notes.push(note);
            }
            m.era = Era::new(v, arch);
            m.era.release = k.clone();
        } else if self.from_dmesg.is_none() && !self.from_host {
            m.era = Era::new(DEFAULT_VERSION, arch);
        } else {
            m.era.arch = arch;
        }
        if self.la57 {
            if !m.era.is_64bit() || !m.era.at_least(4, 14) {
                return Err(format!(
                    "--la57: 5-level paging needs an x86_64 kernel of 4.14 or later, not {}",
                    m.era.release
                ));
            }
            m.era.la57 = true;
        }
        if let Some(bytes) = mem_bytes.filter(|&b| b > bootmm::machine::qemu_max_mem(m.era.la57)) {
            return Err(format!(
                "--mem {bytes:#x}: more RAM than x86_64 4-level paging maps (MAX_PHYSMEM_BITS 46: RAM from 4 GiB ends at 64 TiB); --la57 gives 5-level paging (52 bits)"
            ));
        }
        if self.from_dmesg.is_none() {
            // A build fact that follows the kernel version (a log gives its own).
            m.image.realmode_size = bootmm::machine::default_realmode_size(&m.era);
            if m.image.reserve_end.is_none() {
                m.image.phys_start = bootmm::machine::default_physical_start(&m.era);
                if !m.era.is_64bit() {
                    let [text, rwdata, rodata, init, bss] =
                        bootmm::machine::default_image_k(&m.era).map(|k| k << 10);
                    (m.image.text, m.image.rwdata, m.image.rodata) = (text, rwdata, rodata);
                    (m.image.init, m.image.bss) = (init, bss);
                }
            }
        }
        if !self.numa_node.is_empty() {
            m.srat = Some(explicit_numa(&self.numa_node, &self.numa_distance, m.cpus)?);
        } else if !self.numa_distance.is_empty() {
            if let Some(fw) = &mut m.srat {
                let n = fw.memory.iter().map(|x| x.pxm).max().map_or(1, |p| p + 1);
                let mut slit = bootmm::machine::Slit::uniform(n);
                for d in &self.numa_distance {
                    let (a, b, dist) = parse_numa_distance(d)?;
                    slit.set(a, b, dist)
                        .map_err(|e| format!("--numa-distance {d:?}: {e}"))?;
                }
                fw.slit = Some(slit);
            }
        }
        let limit = bootmm::machine::nr_cpus_limit(&m.era);
        if m.cpus > limit || m.nr_cpus > limit {
            return Err(format!(
                "{} CPUs: an {} kernel is built for at most {limit} (CONFIG_NR_CPUS)",
                m.cpus.max(m.nr_cpus),
                if m.era.is_64bit() { "x86_64" } else { "i386" }
            ));
        }
        let cfg = m.kernel_config();
        let zone_types = bootmm::mm::mm_init::ZoneConfig {
            dma: cfg.zone_dma,
            dma32: cfg.zone_dma32,
            highmem: cfg.highmem,
            device: cfg.zone_device,
        }
        .zones();
        for kv in &self.sysctl {
            let (key, val) = kv
                .split_once('=')
                .ok_or_else(|| format!("--sysctl {kv:?}: expected KEY=VALUE"))?;
            let key = key.trim().replace('/', ".");
            let val = val.trim().trim_matches('"').to_string();
            bootmm::mm::page_alloc_init::check_sysctl(&m.era, &zone_types, &key, &val)
                .map_err(|e| format!("--{e}"))?;
            m.sysctl.push((key, val));
        }
        if let Some(extra) = &self.cmdline {
            if !m.cmdline.is_empty() {
                m.cmdline.push(' ');
            }
            m.cmdline.push_str(extra);
        }
        let kept = bootmm::machine::kernel_cmdline(&m.cmdline).len();
        if kept < m.cmdline.len() {
            notes.push(format!(
                "the command line has {} bytes; the kernel keeps the first {kept} (COMMAND_LINE_SIZE {})",
                m.cmdline.len(),
                bootmm::machine::COMMAND_LINE_SIZE
            ));
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
