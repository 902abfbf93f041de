#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Coverage-guided fuzzing of bootmm's readers and of whole boots, with libFuzzer on the
# machine's stable toolchain (the sancov instrumentation flags below are stable rustc
# options; no sanitizer runtime is needed).
#
#   scripts/fuzz.sh [--seconds N | --runs N] [--jobs J] [TARGET...]
#
# Targets (default: all): e820_text dmesg cmdline script_bare zoneinfo (readers), and
# zoneinfo_check slabinfo_check check script_booted (a whole check or boot per input), and
# diff_sides (bootmm diff's two side strings). Each runs for N
# seconds (default 10) or N executions, from the seeds in fuzz/seeds/TARGET plus, for the log readers, the shared
# corpus (../shared/corpus) and the QEMU logs under crates/bootmm-cli/tests/data. The corpus
# grows in target/fuzz/corpus/TARGET; a crash lands in target/fuzz/artifacts/TARGET and
# fails the run (copy it to fuzz/regressions/TARGET/ and tests/fuzz_regressions.rs keeps it
# from coming back). Per target the last line of its log (target/fuzz/TARGET.log) gives
# the executions done.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

seconds=10
runs=
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(e820_text dmesg cmdline script_bare zoneinfo zoneinfo_check slabinfo_check check script_booted diff_sides)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

triple=$(rustc -vV | sed -n 's/^host: //p')
# The instrumentation cargo-fuzz uses, minus the address sanitizer (nightly-only); debug
# assertions on, so the model's CONFIG_DEBUG_VM checks run too. --target keeps the flags
# off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="$top/target/fuzz-build"
(cd fuzz && cargo build --release --target "$triple" --quiet)
bin="$CARGO_TARGET_DIR/$triple/release"

out="$top/target/fuzz"
mkdir -p "$out"
shared="$top/../shared/corpus"

# The longest input per target: the log reader sees a log's first 16 KiB (where its inputs
# are; whole logs make each run 10 times slower), check a small machine's whole boot.
max_len() {
  case "$1" in
    dmesg) echo 16384 ;;
    check) echo 65536 ;;
    zoneinfo|zoneinfo_check|slabinfo_check) echo 65536 ;;
    script_booted|script_bare) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

seed() {
  local t=$1 dir=$2
  mkdir -p "$dir"
  cp -n fuzz/seeds/"$t"/* "$dir"/ 2>/dev/null || true
  case "$t" in
    dmesg)
      for f in "$shared"/dmesg/*.txt "$shared"/memblock-debug/*.txt "$shared"/host/dmesg-*.txt \
               crates/bootmm-cli/tests/data/qemu-debian/*.dmesg.txt; do
        [ -f "$f" ] || continue
        head -c 16384 "$f" > "$dir/seed-$(basename "$f")"
        # Every line the reader takes, from the whole log, in a small input.
        grep -aE 'Linux version|ommand line|BIOS-e820|e820: (update|remove)|last_pfn|RAMDISK|setup_percpu|Allowing|SRAT|SLIT|NODE_DATA|NUMA|Faking|Memory:|memblock_reserve|Hypervisor|mapped APIC|GB pages|BRK|Malformed|SLUB|deferred|initialised|Brought up|Zone ranges' "$f" \
          | head -c 16384 > "$dir/lines-$(basename "$f")" || true
      done ;;
    check)
      # Small machines (256 MiB to 1 GiB): each run boots one; mutations keep their size.
      for f in "$shared"/dmesg/014-*.txt "$shared"/dmesg/026-*.txt "$shared"/dmesg/035-*.txt \
               "$shared"/dmesg/039-*.txt crates/bootmm-cli/tests/data/qemu-debian/*-{256M,512M,600M,768M,1G}-*.dmesg.txt; do
        [ -f "$f" ] || continue
        head -c 65536 "$f" > "$dir/seed-$(basename "$f")"
      done ;;
    e820_text)
      for f in "$shared"/dmesg/*.txt; do
        [ -f "$f" ] || continue
        grep 'BIOS-e820' "$f" > "$dir/seed-$(basename "$f")" || true
      done ;;
    zoneinfo)
      for f in "$shared"/zoneinfo/*.txt "$shared"/host/zoneinfo.txt \
               crates/bootmm-cli/tests/data/qemu-debian/*.zoneinfo.txt; do
        [ -f "$f" ] && cp -n "$f" "$dir/seed-$(basename "$f")"
      done ;;
    slabinfo_check)
      for f in "$shared"/slabinfo/*.txt "$shared"/host/slabinfo.txt; do
        [ -f "$f" ] && cp -n "$f" "$dir/seed-$(basename "$f")"
      done ;;
    zoneinfo_check)
      # Single-node files: the boot-time search over several nodes takes seconds a file in
      # an instrumented build (the shared corpus has two-node ones).
      for f in "$shared"/zoneinfo/*.txt "$shared"/host/zoneinfo.txt \
               crates/bootmm-cli/tests/data/qemu-debian/6.1*-nokaslr.zoneinfo.txt; do
        case "$f" in *nodes*|*numafake*) continue ;; esac
        [ -f "$f" ] && cp -n "$f" "$dir/seed-$(basename "$f")"
      done ;;
  esac
  # An empty corpus is not a fuzz run: libFuzzer would start from nothing.
  [ -n "$(ls -A "$dir")" ] || echo > "$dir/empty"
}

failed=0
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  seed "$t" "$corpus"
  art="$out/artifacts/$t"
  mkdir -p "$art"
  limit=(-max_total_time="$seconds")
  [ -n "$runs" ] && limit=(-runs="$runs")
  log="$out/$t.log"
  par=()
  [ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
  set +e
  # From $out: parallel jobs write their fuzz-N.log files into the working directory.
  (cd "$out" && "$bin/$t" "$corpus" -artifact_prefix="$art/" -max_len="$(max_len "$t")" \
    -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 "${par[@]}" "${limit[@]}" \
    > "$log" 2>&1)
  rc=$?
  set -e
  execs=$(cat "$log" "$out"/fuzz-*.log 2>/dev/null | grep '^stat::number_of_executed_units' \
    | awk '{ s += $2 } END { print s + 0 }' || true)
  rm -f "$out"/fuzz-*.log
  if [ $rc -ne 0 ]; then
    failed=1
    echo "fuzz $t: FAILED after $execs executions (exit $rc); see $log and $art"
    grep -E 'ERROR|panicked|==[0-9]+==' "$log" | head -5 || true
  else
    echo "fuzz $t: $execs executions, no crash"
  fi
done
exit $failed
