#!/bin/bash
# prop_block.sh VM2OCI [N] [SEED]: the block strategy's property test.
#
# One small ext4 template disk (qcow2) is made here; then N times: a qcow2
# overlay on it, a random script of changes applied through the kernel (a
# writable qemu-storage-daemon FUSE export of the overlay + a loop mount,
# no --direct-io), and `vm2oci convert` of the overlay with --strategy block
# and --strategy file against disk:TEMPLATE (and twice a vmdk delta disk on a
# vmdk copy of the template): the block run must have used
# block, and both must give the same diff layer (digest and diff_id).
# With VM2OCI_FIXTURES set, clone.qcow2 on template.qcow2 is checked too
# (--max-file-size 4G: its sparse 1 GiB file is larger than its filesystem).
# Full copies of changed overlays (a standalone qcow2 and a raw file, no
# backing chain) go through the block-hash index of the template; the template
# cache (VM2OCI_CACHE in the work folder) must hit on later runs, give the same
# layers, and a corrupt cache must be said once and rebuilt.
# Root, /dev/fuse and qemu-storage-daemon are needed; otherwise exit 77.
set -euo pipefail

vm2oci=$1
n=${2:-30}
seed=${3:-1}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
[ -e /dev/fuse ] || skip "no /dev/fuse"
for t in qemu-storage-daemon qemu-img mkfs.ext4 losetup setfattr jq; do
    command -v $t >/dev/null || skip "no $t"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/prop_block.XXXXXX")
export VM2OCI_CACHE=$work/cache
loopdev= mnt=$work/mnt
mkdir -p "$mnt"
. "$(dirname "$0")/../../fixtures/overlay-lib.sh"
cleanup() {
    overlay_umount
    if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" || umount -l "$mnt"; fi
    [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# ---- the template ------------------------------------------------------------
RANDOM=$seed
truncate -s 128M "$work/t.raw"
mkfs.ext4 -q -F -U 6f0c6ad5-0b7e-4d3c-9a43-3b6c2b0a7e11 -E lazy_itable_init=0,lazy_journal_init=0 \
    -b 4096 -I 256 "$work/t.raw"
loopdev=$(losetup -f --show "$work/t.raw")
mount "$loopdev" "$mnt"
(
    cd "$mnt"
    mkdir -p etc bin usr/bin usr/lib var/lib/app srv/many home/u
    printf 'ID=proptest\nVERSION_ID=1\n' >etc/os-release
    printf '/dev/sda / ext4 defaults 0 1\n' >etc/fstab
    echo template >etc/hostname
    for i in $(seq 1 60); do
        head -c $((RANDOM * 3)) /dev/urandom >usr/lib/lib$i.so
        echo "config $i" >etc/conf$i
    done
    for i in $(seq 1 40); do echo "bin $i" >usr/bin/tool$i; chmod 755 usr/bin/tool$i; done
    for i in $(seq 1 200); do echo "$i" >srv/many/f$i; done
    ln usr/bin/tool1 usr/bin/tool1-link
    ln -s ../usr/bin/tool2 bin/tool2
    ln -s /etc/hostname etc/name-link
    setfattr -n user.tag -v template etc/conf1
    setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' x)" etc/conf2
    mkdir -p var/lib/app/d1/d2
    echo deep >var/lib/app/d1/d2/file
    truncate -s 20M var/lib/app/sparse
    printf 'x' | dd of=var/lib/app/sparse bs=1 seek=1000000 conv=notrunc status=none
    mkfifo var/lib/app/fifo
    mknod var/lib/app/null c 1 3
    chown 1000:1000 -R home/u
    echo hi >home/u/.profile
)
umount "$mnt"
losetup -d "$loopdev"
loopdev=
qemu-img convert -f raw -O qcow2 "$work/t.raw" "$work/template.qcow2"
rm -f "$work/t.raw"

# ---- random changes ------------------------------------------------------------
pick() { # a random line of stdin
    local -a a
    mapfile -t a
    [ ${#a[@]} -gt 0 ] || return 1
    printf '%s\n' "${a[RANDOM % ${#a[@]}]}"
}
files() { find . -xdev -type f ! -path './lost+found*' | sort; }
dirs() { find . -xdev -mindepth 1 -type d ! -path './lost+found*' | sort; }
links() { find . -xdev -type l | sort; }

one_change() {
    local f d k
    case $((RANDOM % 16)) in
    0) d=$(dirs | pick) && head -c $((RANDOM * 2)) /dev/urandom >"$d/new$RANDOM" ;;
    1) f=$(files | pick) && head -c $((RANDOM % 9000)) /dev/urandom >>"$f" ;;
    2) f=$(files | pick) && truncate -s $((RANDOM % 5000)) "$f" ;;
    3) f=$(files | pick) && rm -f "$f" ;;
    4) f=$(files | pick) && d=$(dirs | pick) && mv -f "$f" "$d/moved$RANDOM" ;;
    5) d=$(dirs | pick) && [ "$d" != ./etc ] && [ "$d" != ./usr ] && mv "$d" "./renamed$RANDOM" ;;
    6) f=$(files | pick) && chmod $((RANDOM % 8))$((RANDOM % 8))$((RANDOM % 8)) "$f" ;;
    7) f=$(files | pick) && chown $((RANDOM % 3000)):$((RANDOM % 3000)) "$f" ;;
    8) f=$(files | pick) && setfattr -n user.k$((RANDOM % 3)) -v "v$RANDOM" "$f" ;;
    9) f=$(files | pick) && { setfattr -x user.tag "$f" 2>/dev/null || setfattr -x user.big "$f" 2>/dev/null || setfattr -x user.k0 "$f" 2>/dev/null || true; } ;;
    10) f=$(files | pick) && d=$(dirs | pick) && ln -f "$f" "$d/hl$RANDOM" ;;
    11) f=$(links | pick) && ln -sfn "/target/$RANDOM" "$f" ;;
    12) f=$(files | pick) && rm -f "$f" && mkdir "$f" && echo in >"$f/x"
        ;;
    13) d=$(dirs | pick) && [ "$d" != ./etc ] && [ "$d" != ./usr ] && [ "$d" != ./bin ] &&
        rm -rf "$d" && echo now-a-file >"$d" ;;
    14) f=./big$RANDOM && truncate -s $((64 + RANDOM % 64))M "$f" &&
        for k in 1 2 3; do printf 'data%s' $k | dd of="$f" bs=1 seek=$((RANDOM * 1000)) conv=notrunc status=none; done ;;
    15) d=./many$RANDOM && mkdir "$d" && for k in $(seq 1 $((100 + RANDOM % 400))); do echo $k >"$d/m$k"; done ;;
    esac
    return 0
}

layer_of() { # the diff layer's digest and diff_id, and the strategy used
    jq -r '[.strategy.used, (.layers[] | select(.role == "diff") | .digest, .diff_id)] | join(" ")' "$1"
}

check_pair() { # DISK BASE NAME
    local a b
    "$vm2oci" convert "$1" -b "disk:$2" -o "$work/o-block" -c none --max-file-size 4G --strategy block --json -q >"$work/block.json"
    "$vm2oci" convert "$1" -b "disk:$2" -o "$work/o-file" -c none --max-file-size 4G --strategy file --json -q >"$work/file.json"
    rm -rf "$work/o-block" "$work/o-file"
    a=$(layer_of "$work/block.json")
    b=$(layer_of "$work/file.json")
    if [ "${a%% *}" != block ] || [ "${a#* }" != "${b#* }" ]; then
        echo "FAIL $3: block: $a ($(jq -r .strategy.reason "$work/block.json")) file: $b"
        return 1
    fi
    echo "ok $3: $(jq -r '[(.diff | "+\(.added) ~\(.modified) m\(.metadata_only) -\(.deleted) t\(.type_changed)"), "dirty inodes \(.strategy.block.dirty_inodes)", "disk bytes read block \(.strategy.disk_bytes_read)"] | join(", ")' "$work/block.json"), file $(jq .strategy.disk_bytes_read "$work/file.json")"
}

fail=0
if [ -n "${VM2OCI_FIXTURES:-}" ] && [ -e "$VM2OCI_FIXTURES/clone.qcow2" ]; then
    check_pair "$VM2OCI_FIXTURES/clone.qcow2" "$VM2OCI_FIXTURES/template.qcow2" clone.qcow2 || fail=1
fi
for ((it = 1; it <= n; it++)); do
    ov=$work/clone.qcow2
    rm -f "$ov"
    qemu-img create -q -f qcow2 -F qcow2 -b "$work/template.qcow2" "$ov"
    overlay_mount "$ov" "$mnt" "$work"
    nops=$((1 + RANDOM % 6))
    (cd "$mnt" && for ((k = 0; k < nops; k++)); do one_change 2>/dev/null || true; done)
    overlay_umount
    check_pair "$ov" "$work/template.qcow2" "script $it (seed $seed)" || fail=1
done
# A vmdk delta disk (grain tables) on a vmdk copy of the template.
qemu-img convert -O vmdk "$work/template.qcow2" "$work/template.vmdk"
for ((it = 1; it <= 2; it++)); do
    rm -f "$work/delta.vmdk"
    qemu-img create -q -f vmdk -F vmdk -b "$work/template.vmdk" "$work/delta.vmdk"
    overlay_mount "$work/delta.vmdk" "$mnt" "$work" vmdk
    (cd "$mnt" && for ((k = 0; k < 4; k++)); do one_change 2>/dev/null || true; done)
    overlay_umount
    check_pair "$work/delta.vmdk" "$work/template.vmdk" "vmdk delta $it" || fail=1
done

# Full copies: no backing chain, so the template's block-hash index.
cache_state() { # the template cache's tree/hashes/layer states of the last block run
    jq -r '.template_cache | "\(.tree) \(.hashes) \(.layer)"' "$work/block.json"
}
expect_cache() { # WANT NAME
    local got
    got=$(cache_state)
    [ "$got" = "$1" ] && echo "ok cache $2: $got" || { echo "FAIL cache $2: $got, want $1"; return 1; }
}
ov=$work/clone.qcow2
rm -f "$ov"
qemu-img create -q -f qcow2 -F qcow2 -b "$work/template.qcow2" "$ov"
overlay_mount "$ov" "$mnt" "$work"
(cd "$mnt" && for ((k = 0; k < 5; k++)); do one_change 2>/dev/null || true; done)
overlay_umount
qemu-img convert -O qcow2 "$ov" "$work/full.qcow2"
qemu-img convert -O raw "$ov" "$work/full.raw"
check_pair "$work/full.qcow2" "$work/template.qcow2" "full qcow2 copy" || fail=1
[ "$(jq -r .strategy.block.source "$work/block.json")" = hashes ] || { echo "FAIL full copy: not by hashes"; fail=1; }
check_pair "$work/full.raw" "$work/template.qcow2" "full raw copy" || fail=1
expect_cache "hit hit hit" "full raw copy, second use" || fail=1
# A corrupt tree and index: said once, rebuilt, the same layer.
for f in "$VM2OCI_CACHE"/templates/*/tree "$VM2OCI_CACHE"/templates/*/hashes; do
    printf 'garbage' | dd of="$f" bs=1 seek=9 conv=notrunc status=none
done
"$vm2oci" convert "$work/full.raw" -b "disk:$work/template.qcow2" -o "$work/o-c" -c none --max-file-size 4G --strategy block --json -q >"$work/block.json" 2>"$work/warn.txt"
rm -rf "$work/o-c"
nwarn=$(grep -c 'warning: template cache' "$work/warn.txt" || true)
if [ "$nwarn" = 1 ] && [ "$(cache_state)" = "rebuilt rebuilt hit" ] &&
   [ "$(layer_of "$work/block.json" | cut -d' ' -f2-)" = "$(layer_of "$work/file.json" | cut -d' ' -f2-)" ]; then
    echo "ok corrupt cache: $(cat "$work/warn.txt")"
else
    echo "FAIL corrupt cache: $nwarn warnings, $(cache_state)"; fail=1
fi
expect_cache "rebuilt rebuilt hit" "after corruption" || fail=1
check_pair "$work/full.raw" "$work/template.qcow2" "full raw copy, rebuilt cache" || fail=1
expect_cache "hit hit hit" "rebuilt" || fail=1
# A cached blob written over since (its mtime moved): said, rebuilt, the same layer.
touch "$VM2OCI_CACHE"/templates/*/blob-*
check_pair "$work/full.raw" "$work/template.qcow2" "full raw copy, blob touched" 2>"$work/warn.txt" || fail=1
grep -q 'changed since it was cached' "$work/warn.txt" || { echo "FAIL blob touched: no warning"; fail=1; }
expect_cache "hit hit rebuilt" "blob touched" || fail=1
# A template changed in place (its mtime) is a miss, never a stale hit.
touch "$work/template.qcow2"
check_pair "$ov" "$work/template.qcow2" "touched template" || fail=1
expect_cache "miss unused miss" "touched template" || fail=1
# Bounded: past VM2OCI_TEMPLATE_CACHE_MAX the least recently used templates
# go (the old identity, the vmdk template), never the one in use.
before=$(find "$VM2OCI_CACHE/templates" -mindepth 1 -maxdepth 1 -type d | wc -l)
VM2OCI_TEMPLATE_CACHE_MAX=1 "$vm2oci" convert "$ov" -b "disk:$work/template.qcow2" -o "$work/o-t" -c gzip --max-file-size 4G --json -q >"$work/block.json"
rm -rf "$work/o-t"
after=$(find "$VM2OCI_CACHE/templates" -mindepth 1 -maxdepth 1 -type d | wc -l)
if [ "$before" -ge 2 ] && [ "$after" = 1 ] && [ -d "$(jq -r .template_cache.dir "$work/block.json")" ]; then
    echo "ok cache bound: $before templates, 1 after a run with a 1-byte cap"
else
    echo "FAIL cache bound: $before templates before, $after after"; fail=1
fi
# The base layer's bytes depend on the exclusion rules and the gzip engine:
# other rules or --gzip-fast never take a layer cached under the defaults,
# and a cached layer equals the one an uncached run writes.
base_of() { jq -r '.layers[] | select(.role == "base") | .digest' "$1"; }
for extra in "" "--keep-kernel" "--compress gzip" "--compress gzip --gzip-fast" "--exclude /etc/motd" ""; do
    # shellcheck disable=SC2086 # extra holds separate options
    "$vm2oci" convert "$ov" -b "disk:$work/template.qcow2" -o "$work/o-x" --max-file-size 4G --json -q $extra >"$work/x1.json"
    # shellcheck disable=SC2086
    VM2OCI_CACHE=off "$vm2oci" convert "$ov" -b "disk:$work/template.qcow2" -o "$work/o-y" --max-file-size 4G --json -q $extra >"$work/x2.json"
    rm -rf "$work/o-x" "$work/o-y"
    if [ "$(base_of "$work/x1.json")" = "$(base_of "$work/x2.json")" ]; then
        echo "ok cached base layer${extra:+ with $extra}: $(jq -r .template_cache.layer "$work/x1.json")"
    else
        echo "FAIL cached base layer${extra:+ with $extra}: $(base_of "$work/x1.json"), uncached $(base_of "$work/x2.json")"; fail=1
    fi
done

# Refusals: block falls back to file, saying why, when it cannot be exact.
refused() { # DISK BASE PATTERN NAME
    "$vm2oci" convert "$1" -b "$2" -o "$work/o-ref" -c none --strategy block --json -q >"$work/ref.json"
    rm -rf "$work/o-ref"
    if [ "$(jq -r .strategy.used "$work/ref.json")" != file ] ||
       ! jq -r .strategy.reason "$work/ref.json" | grep -q "$3"; then
        echo "FAIL refusal $4: $(jq -c .strategy "$work/ref.json")"
        return 1
    fi
    echo "ok refusal $4: $(jq -r .strategy.reason "$work/ref.json")"
}
qemu-img create -q -f qcow2 -F qcow2 -b "$work/template.qcow2" "$work/clone.qcow2"
refused "$work/clone.qcow2" scratch "disk:TEMPLATE" "scratch base" || fail=1
overlay_mount "$work/clone.qcow2" "$mnt" "$work"
umount "$mnt"
e2fsck -fy "$ov_loop" >/dev/null 2>&1 || true # tune2fs -U wants a checked fs
tune2fs -U 0b7e6f0c-6ad5-4d3c-9a43-3b6c2b0a7e11 "$ov_loop" >/dev/null
overlay_umount
refused "$work/clone.qcow2" "disk:$work/template.qcow2" "UUID or geometry" "new UUID" || fail=1

[ $fail = 0 ] && echo "ok: $n change scripts, block and file gave the same layer"
exit $fail
