#!/usr/bin/env bash
# tests/cli/gzip-cpus.sh VM2OCI - gzip layers are the same bytes on every x86-64 CPU:
# a small ext4 disk (text, zeros and random bytes, ~6 MiB: several 1 MiB gzip blocks)
# converted with --compress gzip at levels 1 and 6 natively and under qemu-user's
# `-cpu qemu64` (no SSE4, the oldest x86-64) must give the same layer digest. For contrast
# it prints (asserting nothing) whether --gzip-fast (ISA-L, CPU-dependent) differs.
# Exit 77 (skip) without qemu-x86_64, mke2fs or jq, or when VM2OCI does not run under
# qemu-user (an ASan build's shadow memory does not).
set -euo pipefail
bin=${1:?usage: gzip-cpus.sh VM2OCI}
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in qemu-x86_64 mke2fs jq; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ "$(uname -m)" = x86_64 ] || { echo "SKIP: not an x86-64 host"; exit 77; }
! ldd "$bin" 2>/dev/null | grep -q libasan || { echo "SKIP: $bin is an ASan build (qemu-user cannot map its shadow)"; exit 77; }
timeout 30 qemu-x86_64 -cpu qemu64 "$bin" --help >/dev/null 2>&1 ||
    { echo "SKIP: $bin does not run under qemu-x86_64 (an ASan build?)"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-gzcpu-XXXXXX")
trap 'rm -rf "$work"' EXIT

stage=$work/root
mkdir -p "$stage/etc" "$stage/srv" "$stage/usr"
printf '/dev/vda\t/\text4\tdefaults\t0\t1\n' >"$stage/etc/fstab"
seq 1 400000 >"$stage/srv/numbers.txt"                        # ~2.7 MiB of text
head -c 2M /dev/zero >"$stage/srv/zeros"
head -c 1536K /dev/urandom >"$stage/srv/random"
truncate -s 32M "$work/disk.raw"
mke2fs -q -F -t ext4 -d "$stage" "$work/disk.raw"

# digest [RUNNER...] -- ARGS: the layer digest of converting the disk with ARGS.
digest() {
    local run=()
    while [ "$1" != -- ]; do run+=("$1"); shift; done
    shift
    rm -rf "$work/out"
    "${run[@]}" "$bin" convert "$work/disk.raw" -o "$work/out" --base scratch --compress gzip \
        --quiet --json "$@" | jq -r '.layers[-1].digest'
}

for level in 1 6; do
    native=$(digest -- --level "$level") || fail "native convert at level $level"
    old=$(digest qemu-x86_64 -cpu qemu64 -- --level "$level") || fail "qemu64 convert at level $level"
    [ "$native" = "$old" ] || fail "level $level: $native natively, $old under -cpu qemu64"
    echo "ok: gzip level $level: $native natively and under -cpu qemu64"
done
native=$(digest -- --gzip-fast) || fail "native convert --gzip-fast"
old=$(digest qemu-x86_64 -cpu qemu64 -- --gzip-fast) || fail "qemu64 convert --gzip-fast"
if [ "$native" = "$old" ]; then
    echo "note: --gzip-fast gave the same bytes natively and under -cpu qemu64 on this host"
else
    echo "note: --gzip-fast differs natively ($native) and under -cpu qemu64 ($old), as documented"
fi
