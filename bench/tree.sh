#!/usr/bin/env bash
# bench/tree.sh [VM2OCI...] - a disk with many small files (default N=500,000).
#
# Generates a tree of N small files (1,000 per directory, 1-64 bytes each),
# puts it in an ext4 image (mke2fs -d, 1 KiB blocks), and times
# `vm2oci convert` of the image onto scratch (whole process: GNU time -v, wall
# seconds, peak RSS, and peak RSS per file: the bytes a tree entry costs
# with everything around it), beside `tar -c` of the same host tree.
# Needs mke2fs, python3, GNU tar and time. VM2OCI defaults to build/cli/vm2oci;
# several (e.g. an older build) are measured one after the other on the same disk.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- "$here/../build/cli/vm2oci"
n=${N:-500000}
for vm2oci in "$@"; do
    [ -x "$vm2oci" ] || { echo "tree.sh: $vm2oci is not built" >&2; exit 1; }
done
for t in mke2fs python3 tar /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "tree.sh: $t is needed" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-tree.XXXXXX")
trap 'rm -rf "$work"' EXIT

measure() { # NAME CMD...: wall seconds, peak RSS MiB, peak RSS bytes per file
    local name=$1 log=$work/time.log
    shift
    if ! /usr/bin/time -v "$@" >/dev/null 2>"$log"; then
        echo "tree.sh: failed: $*" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    awk -v name="$name" -v n="$n" -F': ' '
        /Elapsed \(wall clock\)/ { k = split($2, p, ":"); s = 0
                                   for (i = 1; i <= k; i++) s = s * 60 + p[i]; wall = s }
        /Maximum resident set size/ { rss = $2 }
        END { printf "  %-30s %8.2f s %8.1f MiB %6.0f bytes/file\n", name, wall, rss / 1024,
                     rss * 1024 / n }' "$log"
}

root=$work/root
python3 - "$root" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in ("etc", "usr"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
with open(os.path.join(root, "etc/os-release"), "w") as f:
    f.write('ID=debian\nVERSION_ID="12"\n')
for i in range(n):
    if i % 1000 == 0:
        d = os.path.join(root, "usr/share/many/d%04d" % (i // 1000))
        os.makedirs(d)
    with open(os.path.join(d, "file-%07d.txt" % i), "w") as f:
        f.write("x" * (1 + i % 64))
PY
mke2fs -q -t ext4 -b 1024 -N $((n + n / 5 + 1000)) -d "$root" "$work/disk.img" \
    $(( n * 2 / 1024 + 64 ))M 2>&1 | grep -v '^Creating regular file' >&2 || true
echo "$n small files:"
for vm2oci in "$@"; do
    measure "vm2oci convert (scratch, zstd)" "$vm2oci" convert -q -o "$work/out.oci" "$work/disk.img"
    echo "    ($vm2oci)"
    rm -rf "$work/out.oci"
done
measure "tar -c of the host tree" tar -C "$root" -cf "$work/tree.tar" .
