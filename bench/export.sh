#!/usr/bin/env bash
# bench/export.sh FIXTURES [RUNS]
#
# Exporting a whole VM disk as one compressed layer, side by side:
#   vm2oci convert --base scratch           (in-process qcow2 + ext4 reader)
#   qemu-img convert -O raw + loop mount + tar | gzip   (the classic pipeline)
#   virt-tar-out | gzip                     (libguestfs; only with VIRT=1: slow here)
# on FIXTURES/debian-gpt.qcow2. Needs root (loop mounts) and a build in build/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
fx=$(cd "${1:?usage: bench/export.sh FIXTURES [RUNS]}" && pwd)
runs=${2:-3}
bin=${VM2OCI:-$top/build/cli/vm2oci}
disk=$fx/debian-gpt.qcow2
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-bench-XXXXXX")
trap '"$top/tests/cli/guest-mount.sh" umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT

vm2oci_gzip="rm -rf $work/oci && $bin convert $disk -o $work/oci --compress gzip --quiet"
vm2oci_zstd="rm -rf $work/oci && $bin convert $disk -o $work/oci --compress zstd --quiet"
classic="qemu-img convert -O raw $disk $work/d.raw && $top/tests/cli/guest-mount.sh mount $work/d.raw $work/mnt \
 && tar -C $work/mnt --numeric-owner --xattrs --xattrs-include='*' -cf - . | gzip > $work/x.tar.gz; rc=\$?; \
 $top/tests/cli/guest-mount.sh umount $work/mnt; rm -f $work/d.raw; exit \$rc"
classic_zstd="qemu-img convert -O raw $disk $work/d.raw && $top/tests/cli/guest-mount.sh mount $work/d.raw $work/mnt \
 && tar -C $work/mnt --numeric-owner --xattrs --xattrs-include='*' -cf - . | zstd -q -T0 > $work/x.tar.zst; rc=\$?; \
 $top/tests/cli/guest-mount.sh umount $work/mnt; rm -f $work/d.raw; exit \$rc"

echo "disk: $disk ($(qemu-img info --output=json "$disk" | jq -r '.["virtual-size"]') bytes virtual), $(nproc) cores"
bench_pair "vm2oci convert (gzip)" "$vm2oci_gzip" "qemu-img+mount+tar|gzip" "$classic" "$runs"
bench_pair "vm2oci convert (zstd)" "$vm2oci_zstd" "qemu-img+mount+tar|zstd -T0" "$classic_zstd" "$runs"
if [ "${VIRT:-0}" = 1 ]; then
    export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
    bench_pair "vm2oci convert (gzip)" "$vm2oci_gzip" "virt-tar-out|gzip" \
        "virt-tar-out -a $disk --format=qcow2 / - | gzip > $work/v.tar.gz" 1
fi
