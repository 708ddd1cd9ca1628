#!/usr/bin/env bash
# bench/digests.sh FIXTURES [OUT]
#
# Records what vm2oci writes, as digests, so that a refactor can prove it
# changes no output byte: run it before and after, then `diff` the two files.
#   convert of every fixture disk (scratch base, zstd);
#   --compress gzip / none, --level 3, --output-format docker-archive;
#   clone.qcow2 on disk:template.qcow2, and on oci:base-oci:minbase,
#   docker-archive:base-docker.tar, rootfs:base-rootfs.tar;
#   --packages-layer (scratch and oci base), --dockerfile (its text + tar);
#   --keep-kernel, --no-default-excludes, user --exclude/--include rules;
#   the --json summaries of convert, diff and compare, with timings, paths
#   and other run-dependent values removed.
# Per convert: manifest, config and layer digests (from the OCI layout) or the
# archive's sha256. Writes to OUT (default: stdout). Needs jq and a build in
# build/ (or VM2OCI=path). Takes 5-10 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
fx=$(cd "${1:?usage: bench/digests.sh FIXTURES [OUT]}" && pwd)
out=${2:-/dev/stdout}
bin=${VM2OCI:-$top/build/cli/vm2oci}
[ -x "$bin" ] || { echo "digests: $bin is not built (set VM2OCI)" >&2; exit 1; }
command -v jq >/dev/null || { echo "digests: jq is needed" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-digests-XXXXXX")
trap 'rm -rf "$work"' EXIT
export VM2OCI_CACHE=off

# Timings, byte counters of the reader and output paths vary between runs.
norm='walk(if type == "object" then with_entries(select((.key | test("^seconds|bytes_read$|^output$")) | not)) else . end)'

layout_digests() { # DIR TAG
    local m
    m=$(jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json")
    echo "  manifest $m"
    jq -r '"  config " + .config.digest, (.layers[] | "  layer " + .mediaType + " " + .digest)' \
        "$1/blobs/sha256/${m#sha256:}"
}

convert() { # LABEL DISK [ARGS...]
    local label=$1 disk=$2
    shift 2
    rm -rf "$work/oci" "$work/out.tar" "$work/Dockerfile" "$work/vm2oci-diff.tar"
    echo "== convert $label"
    # The clone holds a 1 GiB sparse file on a 578 MiB disk: above the default
    # --max-file-size (the disk's size), so every run allows 2 GiB.
    (cd "$fx" && "$bin" convert "$disk" -o "$work/oci" --quiet --json --max-file-size 2G "$@") > "$work/j" ||
        { echo "  FAILED (exit $?)"; return 0; }
    jq -S "$norm" "$work/j" | sed 's/^/  json /'
    layout_digests "$work/oci" latest
    if [ -f "$work/Dockerfile" ]; then
        echo "  dockerfile $(sha256sum < "$work/Dockerfile" | cut -d' ' -f1)"
        echo "  diff-tar $(sha256sum < "$work/vm2oci-diff.tar" | cut -d' ' -f1)"
    fi
}

{
    for d in debian-gpt.raw debian-gpt.qcow2 debian-gpt-v2.qcow2 debian-gpt-zlib.qcow2 \
             debian-gpt-zstd.qcow2 debian-gpt.vmdk debian-gpt-stream.vmdk debian-mbr.raw \
             debian-bare.raw template.qcow2 clone.qcow2; do
        [ -f "$fx/$d" ] && convert "$d scratch" "$d"
    done
    convert "gzip" debian-gpt.qcow2 --compress gzip
    convert "none" debian-gpt.qcow2 --compress none
    convert "zstd level 3" debian-gpt.qcow2 --level 3
    convert "disk base" clone.qcow2 --base disk:template.qcow2
    convert "disk base gzip" clone.qcow2 --base disk:template.qcow2 --compress gzip
    if [ -d "$fx/base-oci" ]; then
        convert "oci base" clone.qcow2 --base oci:base-oci:minbase
        convert "oci base packages-layer" clone.qcow2 --base oci:base-oci:minbase --packages-layer
        convert "oci base dockerfile" clone.qcow2 --base oci:base-oci:minbase \
            --dockerfile "$work/Dockerfile"
    fi
    [ -f "$fx/base-docker.tar" ] && convert "docker-archive base" clone.qcow2 --base docker-archive:base-docker.tar
    [ -f "$fx/base-rootfs.tar" ] && convert "rootfs base" clone.qcow2 --base rootfs:base-rootfs.tar
    convert "scratch packages-layer" debian-gpt.qcow2 --packages-layer
    convert "keep-kernel" debian-gpt.qcow2 --keep-kernel
    convert "no-default-excludes" debian-gpt.qcow2 --no-default-excludes
    convert "user excludes" clone.qcow2 --base disk:template.qcow2 --exclude '/usr/share/doc/' \
        --include '/usr/share/man/man1/' --exclude '/usr/share/man/*'
    convert "trust-mtime mask-xattr" clone.qcow2 --base disk:template.qcow2 --trust-mtime \
        --mask-xattr security.selinux

    echo "== convert docker-archive"
    rm -f "$work/out.tar"
    (cd "$fx" && "$bin" convert clone.qcow2 -o "$work/out.tar" --output-format docker-archive --max-file-size 2G \
        --base disk:template.qcow2 --quiet) || echo "  FAILED"
    [ -f "$work/out.tar" ] && echo "  archive $(sha256sum < "$work/out.tar" | cut -d' ' -f1)"

    for b in disk:template.qcow2 oci:base-oci:minbase scratch; do
        echo "== diff $b clone.qcow2"
        (cd "$fx" && "$bin" diff "$b" clone.qcow2 --json --list --quiet --max-file-size 2G) | jq -S "$norm" |
            sed 's/^/  /' || echo "  FAILED"
        echo "== compare $b clone.qcow2"
        (cd "$fx" && "$bin" compare "$b" clone.qcow2 --json --quiet --max-file-size 2G) | jq -S "$norm" |
            grep -v '"seconds' | sed 's/^/  /' || echo "  FAILED"
    done
} > "$out"
