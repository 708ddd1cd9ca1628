#!/usr/bin/env bash
# guest-mount.sh mount RAW MNT | umount MNT
#
# Mounts a raw guest disk read-only the way the guest would: every partition
# on its own loop device (no udev here, so `losetup -P` makes no partition
# nodes: -o/--sizelimit per partition), the root found by its etc/fstab, then
# each fstab entry (UUID=, LABEL=, /dev/sdXN|vdXN) on top. This is the
# independent path the end-to-end tests compare vm2oci against: the kernel's
# own ext4 driver, util-linux's sfdisk and blkid.
set -euo pipefail
die() { printf 'guest-mount.sh: %s\n' "$*" >&2; exit 1; }

cmd=${1:-}
case "$cmd" in
umount)
    mnt=$2
    [ -f "$mnt.loops" ] || exit 0
    awk -v d="$mnt" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" || umount -l "$m"; done
    while read -r dev; do losetup -d "$dev" 2>/dev/null || true; done <"$mnt.loops"
    rm -f "$mnt.loops"
    exit 0 ;;
mount) ;;
*) die "usage: guest-mount.sh mount RAW MNT | umount MNT" ;;
esac

raw=$2 mnt=$3
mkdir -p "$mnt"
: >"$mnt.loops"
declare -A dev_of_num
# Partitions as sfdisk reads them; a disk without a table is one filesystem.
if sfdisk -J "$raw" >"$mnt.sfdisk" 2>/dev/null; then
    ssz=$(jq -r '.partitiontable.sectorsize // 512' "$mnt.sfdisk")
    while read -r node start size type; do
        num=${node##*[!0-9]}
        case "$type" in 5|f|85) continue ;; esac
        dev=$(losetup -f --show -r -o $((start * ssz)) --sizelimit $((size * ssz)) "$raw")
        echo "$dev" >>"$mnt.loops"
        dev_of_num[$num]=$dev
    done < <(jq -r '.partitiontable.partitions[] | "\(.node) \(.start) \(.size) \(.type)"' "$mnt.sfdisk")
else
    dev=$(losetup -f --show -r "$raw")
    echo "$dev" >>"$mnt.loops"
    dev_of_num[0]=$dev
fi
rm -f "$mnt.sfdisk"

root=""
for num in "${!dev_of_num[@]}"; do
    dev=${dev_of_num[$num]}
    blkid -p "$dev" >/dev/null 2>&1 || continue
    mount -o ro "$dev" "$mnt" 2>/dev/null || continue
    if [ -f "$mnt/etc/fstab" ] && { [ -d "$mnt/usr" ] || [ -d "$mnt/bin" ]; }; then
        root=$dev
        break
    fi
    umount "$mnt"
done
[ -n "$root" ] || die "$raw: no Linux root filesystem found"

# Mount what fstab names, shallow mount points first.
while read -r spec mp fstype _; do
    case "$spec" in ''|\#*) continue ;; esac
    case "$fstype" in swap|proc|sysfs|tmpfs|devpts|none) continue ;; esac
    [ "$mp" = / ] && continue
    dev=""
    for num in "${!dev_of_num[@]}"; do
        d=${dev_of_num[$num]}
        case "$spec" in
        UUID=*) [ "$(blkid -p -s UUID -o value "$d" 2>/dev/null)" = "${spec#UUID=}" ] && dev=$d ;;
        LABEL=*) [ "$(blkid -p -s LABEL -o value "$d" 2>/dev/null)" = "${spec#LABEL=}" ] && dev=$d ;;
        /dev/*[0-9]) [ "${spec##*[!0-9]}" = "$num" ] && dev=$d ;;
        esac
    done
    [ -n "$dev" ] || die "$raw: fstab names $spec for $mp, and no partition matches it"
    mount -o ro "$dev" "$mnt$mp"
done < <(awk '{ print $2 " " $0 }' "$mnt/etc/fstab" | grep -v '^#' | sort | cut -d' ' -f2-)
