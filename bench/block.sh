#!/usr/bin/env bash
# bench/block.sh WORKDIR [FILL_MIB] [GROW_MIB]   (root: loop mounts, FUSE)
#
# convert --strategy block against --strategy file on a clone of a template:
#   1. a 2 GiB template disk holding FILL_MIB (default 1024) of files, and a
#      qcow2 overlay on it where under 5% of the disk changed (new, appended,
#      deleted, renamed, chmod'ed files) through a FUSE export + loop mount;
#      both strategies side by side: bytes read from the clone (its whole
#      qcow2 chain, counted in diskread's block-device layer), the time to
#      find the changes (walk + diff phases), the whole convert's wall time
#      and peak RSS; the two diff layers must be the same blob. Rows: file with
#      no template cache (VM2OCI_CACHE=off: the template is walked, hashed and
#      written as the base layer every time), block with a cold cache (the
#      first clone of a template: that same work, then kept), block and file
#      with the cache warm (later clones: the template's tree, digests and
#      base layer come from the cache, so the template's files are not read).
#   2. the block strategy (cache warm) as the template grows 1x, 2x, 4x
#      (GROW_MIB, default 256, of files on a 2, 4, 8 GiB disk) with the same
#      changes, and a full copy of the clone (a standalone qcow2: the block-
#      hash index of the template, which reads the copy once).
# Disks are made under WORKDIR (about 4 GiB of it) and reused when present;
# the template caches go in WORKDIR/cache-*.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/fixtures/overlay-lib.sh"
work=$(mkdir -p "${1:?usage: bench/block.sh WORKDIR [FILL_MIB] [GROW_MIB]}" && cd "$1" && pwd)
fill=${2:-1024}
grow=${3:-256}
bin=${VM2OCI:-$top/build/cli/vm2oci}
[ -x "$bin" ] || { echo "bench: $bin is not built (set VM2OCI)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root (loop mounts)" >&2; exit 1; }
mnt=$work/mnt
mkdir -p "$mnt"
trap 'overlay_umount; mountpoint -q "$mnt" && umount "$mnt"; true' EXIT

keystream() { # BYTES SEED: deterministic incompressible bytes
    # (process substitution: openssl's SIGPIPE is no failure under pipefail)
    head -c "$1" < <(openssl enc -aes-128-ctr -nosalt -pass "pass:$2" -pbkdf2 </dev/zero 2>/dev/null)
}

make_template() { # OUT.qcow2 DISK_GIB FILL_MIB
    local out=$1 raw=$1.raw.tmp loop i left=$3
    [ -f "$out" ] && return 0
    rm -f "$raw"
    truncate -s "$2G" "$raw"
    mkfs.ext4 -q -F -b 4096 -U 1b2c3d4e-0000-4000-8000-00000000b10c "$raw"
    loop=$(losetup -f --show "$raw")
    mount "$loop" "$mnt"
    mkdir -p "$mnt"/{etc,bin,usr/lib,usr/share/doc,srv/data}
    printf 'ID=benchblock\nVERSION_ID=1\n' >"$mnt/etc/os-release"
    echo '/dev/sda / ext4 defaults 0 1' >"$mnt/etc/fstab"
    for ((i = 0; i < 2000; i++)); do keystream 4096 "small$i" >"$mnt/usr/share/doc/f$i"; done
    left=$((left - 8))
    for ((i = 0; left > 0; i++)); do
        keystream $((4 << 20)) "big$i" >"$mnt/usr/lib/blob$i"
        left=$((left - 4))
    done
    umount "$mnt"
    losetup -d "$loop"
    qemu-img convert -f raw -O qcow2 "$raw" "$out.tmp"
    rm -f "$raw"
    mv "$out.tmp" "$out"
}

make_clone() { # TEMPLATE.qcow2 CLONE.qcow2: the same changes on any template
    local i
    [ -f "$2" ] && return 0
    qemu-img create -q -f qcow2 -F qcow2 -b "$(basename "$1")" "$2.tmp"
    overlay_mount "$2.tmp" "$mnt" "$work"
    mkdir -p "$mnt/srv/data/new"
    for ((i = 0; i < 8; i++)); do keystream $((4 << 20)) "new$i" >"$mnt/srv/data/new/n$i"; done
    for ((i = 0; i < 200; i++)); do echo "$i" >"$mnt/srv/data/new/s$i"; done
    for ((i = 0; i < 20; i++)); do keystream 65536 "app$i" >>"$mnt/usr/share/doc/f$((i * 7))"; done
    for ((i = 0; i < 50; i++)); do rm -f "$mnt/usr/share/doc/f$((1000 + i))"; done
    mv "$mnt/usr/lib/blob1" "$mnt/srv/data/moved-blob"
    chmod 600 "$mnt/usr/share/doc/f5"
    overlay_umount
    mv "$2.tmp" "$2"
}

run() { # STRATEGY CLONE TEMPLATE CACHE -> "wall rss find_s bytes_read digest used"
    local out=$work/out-$1 j=$work/$1.json t
    rm -rf "$out"
    t=$( { VM2OCI_CACHE=$4 /usr/bin/time -f '%e %M' "$bin" convert "$2" -b "disk:$3" -o "$out" \
            -c none --strategy "$1" --json -q >"$j"; } 2>&1 | tail -n 1)
    rm -rf "$out"
    echo "$t $(jq -r '[(.seconds.walk + .seconds.diff), .strategy.disk_bytes_read,
        (.layers[] | select(.role == "diff") | .digest), .strategy.used] | map(tostring) | join(" ")' "$j")"
}

row() { # LABEL wall rss find bytes
    printf '%-22s %14s %12.2f s %10.2f s %10s KiB\n' "$1" "$5" "$4" "$2" "$3"
}

cd "$work"
make_template t1.qcow2 2 "$fill"
make_clone t1.qcow2 c1.qcow2
size=$(qemu-img info --output=json c1.qcow2 | jq '."virtual-size"')
changed=$(qemu-img map --output=json c1.qcow2 | jq '[.[] | select(.depth == 0 and .data) | .length] | add')
echo "clone: $changed of $size bytes allocated above the template ($(awk -v a="$changed" -v b="$size" 'BEGIN { printf "%.2f", 100 * a / b }')%)"
echo
run block c1.qcow2 t1.qcow2 off >/dev/null # warm the page cache
read -r fw frss ffind fbytes fdig fused < <(run file c1.qcow2 t1.qcow2 off)
rm -rf "$work/cache-main"
read -r cw crss cfind cbytes cdig cused < <(run block c1.qcow2 t1.qcow2 "$work/cache-main")
read -r bw brss bfind bbytes bdig bused < <(run block c1.qcow2 t1.qcow2 "$work/cache-main")
read -r ww wrss wfind wbytes wdig wused < <(run file c1.qcow2 t1.qcow2 "$work/cache-main")
[ "$bused" = block ] && [ "$cused" = block ] || { echo "bench: block was not used" >&2; exit 1; }
printf '%-22s %14s %14s %12s %14s\n' "strategy, cache" "bytes read" "find changes" "convert" "peak RSS"
row "file, no cache" "$fw" "$frss" "$ffind" "$fbytes"
row "block, cold cache" "$cw" "$crss" "$cfind" "$cbytes"
row "block, warm cache" "$bw" "$brss" "$bfind" "$bbytes"
row "file, warm cache" "$ww" "$wrss" "$wfind" "$wbytes"
awk -v a="$fbytes" -v b="$bbytes" -v c="$ffind" -v d="$bfind" -v e="$fw" -v f="$bw" -v g="$cw" -v h="$ww" 'BEGIN {
    printf "file/block: bytes read %.1fx, find changes %.1fx, whole convert %.2fx (cache warm; cold: %.2fx; file with the cache warm too: %.2fx)\n",
        a / b, (d > 0 ? c / d : 0), (f > 0 ? e / f : 0), (g > 0 ? e / g : 0), (f > 0 ? h / f : 0) }'
for d in "$cdig" "$bdig" "$wdig"; do
    [ "$d" = "$fdig" ] || { echo "DIFFERENT diff layers: $d $fdig"; exit 1; }
done
echo "same diff layer: $fdig"
echo

qemu-img convert -O qcow2 c1.qcow2 full1.qcow2.tmp && mv full1.qcow2.tmp full1.qcow2
run block full1.qcow2 t1.qcow2 "$work/cache-main" >/dev/null # the template's index
read -r hw hrss hfind hbytes hdig hused < <(run block full1.qcow2 t1.qcow2 "$work/cache-main")
read -r xw xrss xfind xbytes xdig xused < <(run file full1.qcow2 t1.qcow2 off)
[ "$hused" = block ] && [ "$hdig" = "$xdig" ] || { echo "bench: full copy: $hused $hdig $xdig" >&2; exit 1; }
echo "full copy (standalone qcow2), block by hashes, cache warm vs file, no cache:"
row "block (hashes)" "$hw" "$hrss" "$hfind" "$hbytes"
row "file, no cache" "$xw" "$xrss" "$xfind" "$xbytes"
echo

printf '%-6s %8s %14s %12s %14s %14s\n' template files "bytes read" "find changes" "convert" "peak RSS"
for k in 1 2 4; do
    make_template g$k.qcow2 $((2 * k)) $((grow * k))
    make_clone g$k.qcow2 gc$k.qcow2
    run block gc$k.qcow2 g$k.qcow2 "$work/cache-grow" >/dev/null # warm the cache
    read -r w rss find bytes dig used < <(run block gc$k.qcow2 g$k.qcow2 "$work/cache-grow")
    [ "$used" = block ] || { echo "bench: block was not used on g$k" >&2; exit 1; }
    printf '%-6s %5s MiB %14s %10.2f s %12.2f s %10s KiB\n' "${k}x" $((grow * k)) "$bytes" "$find" "$w" "$rss"
done
