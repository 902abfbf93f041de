#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Boot a Debian kernel package under QEMU and keep what it printed, for bootmm's tests
# (crates/bootmm-cli/tests/data/qemu-debian): the whole dmesg and /proc/zoneinfo.
#
#   scripts/qemu-logs.sh PACKAGE NAME MEM SMP "KERNEL ARGS" [QEMU ARGS...]
#   e.g. scripts/qemu-logs.sh linux-image-6.12.118+deb12-amd64 6.12-a-4G-smp2 4G 2 ""
#
# Needs qemu-system-x86 and busybox-static (apt-get install -y qemu-system-x86
# busybox-static); the kernel package is fetched with `apt-get download` and only
# unpacked. Software emulation (TCG): no KVM needed. Writes NAME.dmesg.txt and
# NAME.zoneinfo.txt into $OUT (default target/qemu-logs).
set -euo pipefail
pkg=$1 name=$2 mem=$3 smp=$4 append=$5
shift 5
out=${OUT:-target/qemu-logs}
work=$out/work
mkdir -p "$work"

# The kernel: unpack the package's /boot.
kdir=$work/$pkg
if [ ! -d "$kdir" ]; then
  (cd "$work" && apt-get download "$pkg" >/dev/null)
  mkdir -p "$kdir"
  dpkg-deb -x "$work/${pkg}"_*.deb "$kdir"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-*)

# The initramfs: busybox, and an /init that prints the files after boot settles.
initrd=$work/initrd.gz
if [ ! -f "$initrd" ]; then
  root=$work/initramfs
  rm -rf "$root"
  mkdir -p "$root"/{bin,proc,sys,dev}
  cp /bin/busybox "$root/bin/busybox"
  for a in sh mount cat sleep dmesg poweroff tee; do ln -s busybox "$root/bin/$a"; done
  cat > "$root/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
sleep 3
report() {
  echo "=== /proc/zoneinfo ==="; cat /proc/zoneinfo; echo "=== end ==="
  echo "=== dmesg ==="; dmesg -s 4194304; echo "=== end ==="
}
report | tee /dev/ttyS1
poweroff -f
EOF
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$initrd"
fi

raw=$work/$name.ttyS1.txt
rm -f "$raw"
timeout 300 qemu-system-x86_64 -nographic -monitor none -no-reboot -machine pc -cpu qemu64 \
  -accel tcg -m "$mem" -smp "$smp" "$@" -kernel "$vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 log_buf_len=4M loglevel=8 ignore_loglevel earlyprintk=serial $append" \
  -serial null -serial "file:$raw" </dev/null >/dev/null 2>&1

# Split the report into its files (CRLF from the UART removed).
section() {
  tr -d '\r' < "$raw" | awk -v s="=== $1 ===" '$0 == s { on = 1; next } /^=== end ===$/ { on = 0 } on'
}
section /proc/zoneinfo > "$out/$name.zoneinfo.txt"
section dmesg > "$out/$name.dmesg.txt"
echo "$name: $(wc -l < "$out/$name.dmesg.txt") dmesg lines"
