#!/usr/bin/env bash
# bench/speed.sh FIXTURES [RUNS]
#
# Issue 11's proof, side by side in one run (medians of RUNS, default 3, A and B alternating):
# FIXTURES/speed.qcow2 (fixtures/make-speed.sh: Debian root, a 1 GiB sparse file, 40 MB of
# random bytes, 3000 small files) converted on the two-layer OCI base
# FIXTURES/base-oci:minbase-deleting (fixtures/make-bases.sh), against
#   the floor: reading the disk once (qemu-img convert -O raw) and then compressing the
#   same diff tar once (vm2oci's own uncompressed diff layer): zstd -3 -T0, igzip -1 -T N
#   (for gzip and gzip --gzip-fast), pigz -1 -p N (N = the cores); for --compress none,
#   the read alone;
#   the same floors with the diff_id's sha256 of the tar added (see below);
#   the research log's pipeline: qemu-img convert to raw, loop mount, rsync -aAX
#   --compare-dest=<the base's rootfs, unpacked beforehand and not timed>, tar | gzip.
# With VM2OCI_BEFORE=another vm2oci binary (an older build), each convert is also timed
# side by side against that one's. Then each convert once more under GNU time: peak RSS
# must stay at or under 200 MiB (exit 1 otherwise). Prints the ratios (<1: vm2oci is faster). Needs root (loop mount),
# umoci, rsync, zstd, igzip (isal), pigz, jq, GNU time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
fx=$(cd "${1:?usage: bench/speed.sh FIXTURES [RUNS]}" && pwd)
runs=${2:-3}
bin=${VM2OCI:-$top/build/cli/vm2oci}
for t in qemu-img umoci rsync zstd igzip pigz jq openssl; do
    command -v "$t" >/dev/null || { echo "speed: $t is needed (scripts/install-deps.sh --peers)" >&2; exit 1; }
done
disk=$fx/speed.qcow2
[ -f "$disk" ] || { echo "speed: $disk is missing (fixtures/make-speed.sh $fx)" >&2; exit 1; }
[ -d "$fx/base-oci" ] || { echo "speed: $fx/base-oci is missing (fixtures/make-bases.sh $fx)" >&2; exit 1; }
ncpu=$(nproc)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/vm2oci-speed-XXXXXX")
gm=$top/tests/cli/guest-mount.sh
trap '$gm umount "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT

# The base beside the output (one filesystem: its blobs are linked, not copied, as a user
# keeping bases near the images would have them), and its rootfs for the pipeline.
mkdir "$work/base" && cp -a "$fx/base-oci/." "$work/base/"
umoci raw unpack --image "$work/base:minbase-deleting" "$work/base-rootfs" >/dev/null
base=oci:$work/base:minbase-deleting
conv() { echo "rm -rf $work/out-$1 && ${2:-$bin} convert --max-file-size 2G $disk --base $base -o $work/out-$1 --compress $1 --quiet"; }

# The diff tar every floor compresses: vm2oci's uncompressed diff layer.
eval "$(conv none)"
manifest=$(jq -r '.manifests[0].digest' "$work/out-none/index.json" | cut -d: -f2)
difftar=$work/diff.tar
ln "$work/out-none/blobs/sha256/$(jq -r '.layers[-1].digest' "$work/out-none/blobs/sha256/$manifest" | cut -d: -f2)" "$difftar"
echo "speed: $disk, diff tar $(du -h --apparent-size "$difftar" | cut -f1), $ncpu cores, medians of $runs"
echo
read_disk="qemu-img convert -O raw $disk $work/r.raw && rm -f $work/r.raw"

bench_pair "vm2oci convert (zstd)" "$(conv zstd)" "floor: read + zstd -3 -T0" \
    "$read_disk && zstd -q -3 -T0 -c $difftar > /dev/null" "$runs"
# The floor above never hashes, but an OCI layer must: its diff_id is the sha256 of the whole
# uncompressed tar, one sequential stream (zeros of sparse files included), so on a diff of
# mostly holes the hash alone can outlast that floor. The same floor with the hash added
# (openssl, which uses the CPU's SHA instructions) is what a spec-valid converter pipelines.
hash_tar="openssl dgst -sha256 $difftar > /dev/null"
bench_pair "vm2oci convert (zstd)" "$(conv zstd)" "floor + diff_id: read + sha256 + zstd" \
    "$read_disk && $hash_tar && zstd -q -3 -T0 -c $difftar > /dev/null" "$runs"
bench_pair "vm2oci convert (gzip)" "$(conv gzip)" "floor + diff_id: read + sha256 + pigz -1" \
    "$read_disk && $hash_tar && pigz -1 -p $ncpu -c $difftar > /dev/null" "$runs"
bench_pair "vm2oci convert (none)" "$(conv none)" "floor + diff_id: read + sha256" \
    "$read_disk && $hash_tar" "$runs"
bench_pair "vm2oci convert (gzip)" "$(conv gzip)" "floor: read + igzip -1 -T$ncpu" \
    "$read_disk && igzip -1 -T $ncpu -c $difftar > /dev/null" "$runs"
bench_pair "vm2oci convert (gzip --gzip-fast)" "$(conv gzip) --gzip-fast" "floor: read + igzip -1 -T$ncpu" \
    "$read_disk && igzip -1 -T $ncpu -c $difftar > /dev/null" "$runs"
bench_pair "vm2oci convert (gzip)" "$(conv gzip)" "floor: read + pigz -1 -p$ncpu" \
    "$read_disk && pigz -1 -p $ncpu -c $difftar > /dev/null" "$runs"
bench_pair "vm2oci convert (none)" "$(conv none)" "floor: read (qemu-img convert)" "$read_disk" "$runs"
seed="qemu-img convert -O raw $disk $work/c.raw && $gm mount $work/c.raw $work/m && rm -rf $work/d && mkdir $work/d \
 && rsync -aAX --compare-dest=$work/base-rootfs/ $work/m/ $work/d/ && tar -C $work/d --numeric-owner -cf - . | gzip > $work/d.tar.gz; rc=\$?; \
 $gm umount $work/m; rm -rf $work/c.raw $work/d $work/d.tar.gz; exit \$rc"
bench_pair "vm2oci convert (gzip)" "$(conv gzip)" "research log's pipeline (gzip)" "$seed" "$runs"

if [ -n "${VM2OCI_BEFORE:-}" ]; then
    for c in zstd gzip none; do
        bench_pair "vm2oci convert ($c)" "$(conv "$c")" "before: $(basename "$VM2OCI_BEFORE") ($c)" \
            "$(conv "$c" "$VM2OCI_BEFORE")" "$runs"
    done
fi

# Peak memory: bounded queues, not whole files.
status=0
for c in zstd gzip none; do
    kib=$(/usr/bin/time -f '%M' bash -c "$(conv "$c")" 2>&1 >/dev/null | tail -n 1)
    if [ "$kib" -le 204800 ]; then verdict=ok; else verdict="OVER 200 MiB"; status=1; fi
    printf 'peak RSS convert (%s): %d KiB: %s\n' "$c" "$kib" "$verdict"
done
exit $status
