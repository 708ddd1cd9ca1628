#!/usr/bin/env bash
# scripts/install-deps.sh [--peers]
#
# Installs what vm2oci needs on Debian 12, as root: the build set (compiler, CMake, libraries,
# and the tools the fixture scripts use); with --peers also the programs the tests compare
# against (podman, skopeo, umoci, libguestfs tools, rpm...).
# Idempotent and fast when nothing is missing: apt is not run at all then.
set -euo pipefail

die() { printf 'install-deps.sh: %s\n' "$*" >&2; exit 1; }
log() { printf 'install-deps.sh: %s\n' "$*" >&2; }

build_pkgs=(
    build-essential cmake pkg-config
    libext2fs-dev libarchive-dev libzstd-dev zlib1g-dev libisal-dev libdeflate-dev libssl-dev libcmocka-dev
    libsqlite3-dev librpm-dev libdb5.3-dev libguestfs-dev libvirt-dev libjansson-dev librsync-dev
    libcurl4-openssl-dev
    debootstrap e2fsprogs fdisk qemu-utils xfsprogs dosfstools mtools lvm2 btrfs-progs jq zstd attr libcap2-bin fuse3
    uuid-runtime mount qemu-system-common openssl
)
# The peers, and the tools the tests call (each test skips, exit 77, when its tool is missing).
peer_pkgs=(
    podman runc skopeo umoci oci-image-tool libguestfs-tools linux-image-amd64 rpm
    golang-github-knqyf263-go-rpmdb-dev qemu-system-x86 uidmap
    acl rsync sqlite3 db5.3-util libxml2-utils xxhash python3 time curl systemd rdiff librsvg2-bin
    libvirt-daemon-system libvirt-clients isal pigz qemu-user
    python3-jsonschema libarchive-tools
    docker-registry apache2-utils curl bc slurm-wlm munge
)
# The SBOM tests take the official CycloneDX schema from an npm package; nodejs
# from another source may bring its own npm, which Debian's would conflict with.
command -v npm >/dev/null || peer_pkgs+=(npm)

pkgs=("${build_pkgs[@]}")
for arg in "$@"; do
    case $arg in
        --peers) pkgs+=("${peer_pkgs[@]}") ;;
        -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument '$arg' (usage: install-deps.sh [--peers])" ;;
    esac
done

# Packages not fully installed ("ii"): unknown ones make dpkg-query fail, so ask one by one
# only when the batch answer is incomplete.
missing=()
status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null || true)
for p in "${pkgs[@]}"; do
    grep -qx "$p ii *" <<<"$status" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#pkgs[@]} packages already installed"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to install: ${missing[*]}"
command -v apt-get >/dev/null || die "apt-get not found: this script is for Debian 12"
log "installing: ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Refresh the package lists when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_InRelease' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    apt-get "${apt_opts[@]}" -qq update || die "apt-get update failed"
fi

# A dpkg run that was interrupted (half-configured packages) blocks apt-get; finish it first.
if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then
    log "finishing an interrupted dpkg run (dpkg --configure -a)"
    dpkg --configure -a || die "dpkg --configure -a failed"
fi

# Packages that are unpacked but not configured are configured by this run too.
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"
log "done"
