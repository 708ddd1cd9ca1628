#!/usr/bin/env bash
# tests/cli/speed.sh VM2OCI - what the pipelined layer writer must keep (issue 11):
#  1. a 4 GiB sparse file holding 1 MiB of data, in a raw disk and in a qcow2 made from it,
#     converts without reading its holes: the block layer's bytes read (convert --json,
#     disk.bytes_read) stay under 16 MiB, both give the same blob, and the file in the layer
#     is the file on the disk (sha256 of the staged file against the one tar extracts);
#  2. gzip output is the same blob for --threads 1, 2 and 8 on the sample VM
#     ($VM2OCI_FIXTURES/debian-gpt.qcow2), one member that gzip -t and Python's reader
#     accept and whose bytes are the layer's diff_id.
# Exit 77 (skip) without mke2fs/qemu-img or without the fixtures (part 2 only).
set -euo pipefail
bin=${1:?usage: speed.sh VM2OCI}
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in mke2fs qemu-img jq zstd tar openssl; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-speed-XXXXXX")
trap 'rm -rf "$work"' EXIT

sha() { openssl dgst -sha256 -r | cut -d' ' -f1; } # sha256sum without SHA-NI is 5x slower

# blob OUT: the path of the top layer's blob of the only image in layout OUT.
blob() {
    local m l
    m=$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)
    l=$(jq -r '.layers[-1].digest' "$1/blobs/sha256/$m" | cut -d: -f2)
    echo "$1/blobs/sha256/$l"
}

# ---- 1. holes are never read ----------------------------------------------------------------
stage=$work/root
mkdir -p "$stage/etc" "$stage/srv" "$stage/usr"
printf '/dev/vda\t/\text4\tdefaults\t0\t1\n' >"$stage/etc/fstab"
truncate -s 4G "$stage/srv/sparse-4g"
head -c 1048576 /dev/urandom | dd of="$stage/srv/sparse-4g" bs=1M seek=2048 conv=notrunc status=none
want=$(sha <"$stage/srv/sparse-4g")
truncate -s 64M "$work/disk.raw"
mke2fs -q -F -t ext4 -d "$stage" "$work/disk.raw"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
for disk in disk.raw disk.qcow2; do
    "$bin" convert "$work/$disk" -o "$work/out-$disk" --base scratch --max-file-size 8G \
        --json >"$work/$disk.json" || fail "convert $disk"
    read_bytes=$(jq -r '.disk.bytes_read' "$work/$disk.json")
    [ "$read_bytes" -gt 1048576 ] || fail "$disk: bytes_read $read_bytes is below the file's 1 MiB of data"
    [ "$read_bytes" -lt $((16 << 20)) ] || fail "$disk: bytes_read $read_bytes: the holes were read"
    echo "ok: $disk: 4 GiB sparse file converted reading $read_bytes bytes of the disk"
done
b=$(blob "$work/out-disk.raw")
[ "$(basename "$b")" = "$(basename "$(blob "$work/out-disk.qcow2")")" ] || fail "raw and qcow2 gave other layers"
got=$(zstd -dc "$b" | tar -xOf - srv/sparse-4g | sha)
[ "$got" = "$want" ] || fail "the layer's srv/sparse-4g differs from the disk's"

# ---- 2. gzip does not depend on the thread count ---------------------------------------------
fx=${VM2OCI_FIXTURES:-}
if [ -z "$fx" ] || [ ! -f "$fx/debian-gpt.qcow2" ]; then
    echo "SKIP (part 2): \$VM2OCI_FIXTURES/debian-gpt.qcow2 is missing"; exit 77
fi
first=
for n in 1 2 8; do
    "$bin" convert "$fx/debian-gpt.qcow2" -o "$work/gz$n" --base scratch --compress gzip \
        --threads "$n" --quiet || fail "convert --threads $n"
    b=$(blob "$work/gz$n")
    d=$(basename "$b")
    [ -n "$first" ] || first=$d
    [ "$d" = "$first" ] || fail "gzip --threads $n gave blob $d, --threads 1 gave $first"
done
b=$(blob "$work/gz1")
gzip -t "$b" || fail "gzip -t rejects the layer"
m=$(jq -r '.manifests[0].digest' "$work/gz1/index.json" | cut -d: -f2)
c=$(jq -r '.config.digest' "$work/gz1/blobs/sha256/$m" | cut -d: -f2)
diff_id=$(jq -r '.rootfs.diff_ids[-1]' "$work/gz1/blobs/sha256/$c" | cut -d: -f2)
if command -v python3 >/dev/null; then
    py=$(python3 -m gzip -d <"$b" | sha)
    [ "$py" = "$diff_id" ] || fail "Python's gzip reader gives $py, the diff_id is $diff_id"
fi
[ "$(gzip -dc "$b" | sha)" = "$diff_id" ] || fail "gzip -dc does not give the diff_id"
echo "ok: gzip layer $first for --threads 1, 2 and 8; gzip -t, gzip -d and Python agree"
