#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Instructions per alloc+free pair of each allocator of benches/buddy.rs, counted by
# callgrind: the difference between a run of 300000 pairs and one of 100000, divided by
# 200000, so that setting up (booting the machine, filling the pool) drops out. The count
# includes the harness (about 40 instructions a pair, the same for every allocator).
# Deterministic, unlike the timings, so that a change to a hot path can be judged on a
# busy machine.
#
# Usage: scripts/buddy-instructions.sh [workload ...]   (churn0, split0, mixed; all if none)
# Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
bin=$(cargo bench -p bootmm --bench buddy --no-run --message-format=json 2>/dev/null |
	sed -n 's/.*"executable":"\([^"]*buddy-[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "could not build benches/buddy.rs" >&2; exit 1; }
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(churn0 split0 mixed)
printf "%-24s" allocator
printf " %10s" "${workloads[@]}"
echo
for a in "bootmm buddy" buddy_system_allocator talc rlsf; do
	printf "%-24s" "$a"
	for w in "${workloads[@]}"; do
		n=()
		for steps in 100000 300000; do
			n+=("$(BUDDY_PROFILE=$w BUDDY_ALLOC="$a" BUDDY_STEPS=$steps \
				valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 |
				sed -n 's/.*Collected : \([0-9]*\).*/\1/p')")
		done
		printf " %10d" $(((n[1] - n[0]) / 200000))
	done
	echo
done
