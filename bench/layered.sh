#!/usr/bin/env bash
# bench/layered.sh FIXTURES [RUNS]
#
# Converting a clone on its template, side by side:
#   vm2oci convert clone.qcow2 --base oci:<template image>   (deletions carried as whiteouts)
#   the research log's pipeline: qemu-img convert both disks to raw, loop-mount
#   both, rsync -aAX --compare-dest=<template> <clone>/ diff/, tar | gzip
#   (it loses the deletions). The log used -aHAX; rsync 3.2.7 fails on -H with
#   --compare-dest ("File-list index ... protocol incompatibility", exit 2) on
#   these disks, so -H is dropped: the pipeline loses hardlinks as well.
# and a floor: reading the clone once (qemu-img convert to raw) plus compressing
# the diff once (gzip of vm2oci's uncompressed diff layer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
fx=$(cd "${1:?usage: bench/layered.sh FIXTURES [RUNS]}" && pwd)
runs=${2:-3}
bin=${VM2OCI:-$top/build/cli/vm2oci}
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-bench-XXXXXX")
gm=$top/tests/cli/guest-mount.sh
trap '$gm umount "$work/m1" 2>/dev/null || true; $gm umount "$work/m2" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" convert "$fx/template.qcow2" -o "$work/tmpl" --tag t --compress gzip --quiet
ours="rm -rf $work/out && $bin convert --max-file-size 2G $fx/clone.qcow2 --base oci:$work/tmpl:t -o $work/out --compress gzip --quiet"
seed="qemu-img convert -O raw $fx/template.qcow2 $work/t.raw && qemu-img convert -O raw $fx/clone.qcow2 $work/c.raw \
 && $gm mount $work/t.raw $work/m1 && $gm mount $work/c.raw $work/m2 && rm -rf $work/d && mkdir $work/d \
 && rsync -aAX --compare-dest=$work/m1/ $work/m2/ $work/d/ && tar -C $work/d --numeric-owner -cf - . | gzip > $work/d.tar.gz; rc=\$?; \
 $gm umount $work/m1; $gm umount $work/m2; rm -f $work/t.raw $work/c.raw; exit \$rc"
bench_pair "vm2oci convert on oci base (gzip)" "$ours" "seed pipeline (rsync, gzip)" "$seed" "$runs"

# The floor: one read of the disk, one compression of the diff.
"$bin" convert --max-file-size 2G "$fx/clone.qcow2" --base "oci:$work/tmpl:t" -o "$work/raw" --compress none --quiet
manifest=$(jq -r '.manifests[0].digest' "$work/raw/index.json" | cut -d: -f2)
difftar=$(jq -r '.layers[-1].digest' "$work/raw/blobs/sha256/$manifest" | cut -d: -f2)
floor="qemu-img convert -O raw $fx/clone.qcow2 $work/c.raw && rm -f $work/c.raw && gzip -c $work/raw/blobs/sha256/$difftar > /dev/null"
bench_pair "vm2oci convert on oci base (gzip)" "$ours" "floor: read disk + gzip diff" "$floor" "$runs"
