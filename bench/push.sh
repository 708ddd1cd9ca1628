#!/usr/bin/env bash
# bench/push.sh FIXTURES [RUNS]
#
# Pushing one image to a registry, side by side:
#   vm2oci push oci:L:clone docker://127.0.0.1:PORT/REPO   (libcurl, in-process; monolithic
#                                                            PUTs, and 8 MiB PATCH chunks;
#                                                            --parallel 1 and 4)
#   skopeo copy oci:L:clone docker://127.0.0.1:PORT/REPO
# of the clone fixture converted on its template (two zstd layers, about 100 MB), into a
# docker-registry on 127.0.0.1 that this script starts (tests/lib/registry.sh, plain HTTP)
# and stops. Every run pushes into a fresh repository, so each one uploads every blob (the
# registry's storage is shared, as a real registry's is). Needs root and a build in build/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
fx=$(cd "${1:?usage: bench/push.sh FIXTURES [RUNS]}" && pwd)
runs=${2:-3}
bin=${VM2OCI:-$top/build/cli/vm2oci}
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-bench-XXXXXX")
trap '"$top/tests/lib/registry.sh" stop "$work/registry" || true; rm -rf "$work"' EXIT
export VM2OCI_CACHE=$work/cache   # a cache of its own

port=$("$top/tests/lib/registry.sh" start "$work/registry")
"$bin" convert "$fx/clone.qcow2" --base "disk:$fx/template.qcow2" --max-file-size 2G -o "$work/l" --tag clone -q
bytes=$(cat "$work"/l/blobs/sha256/* | wc -c)
fresh='r$(date +%s%N)'
# skopeo remembers in its blob-info cache which repositories of a registry hold a blob and
# mounts from them: every command runs with that cache on a fresh, private tmpfs, so that
# each run uploads (and the machine's cache is left alone).
cache=/var/lib/containers/cache
mkdir -p "$cache"
iso() { printf "unshare -m sh -c 'mount -t tmpfs none %s && %s'" "$cache" "$1"; }
echo "image: $bytes bytes of blobs; registry 127.0.0.1:$port (plain http); $(nproc) cores"
skopeo="skopeo copy -q --dest-tls-verify=false oci:$work/l:clone docker://127.0.0.1:$port/s/$fresh:v1"
bench_pair "vm2oci push --parallel 4" \
    "$(iso "$bin push -q oci:$work/l:clone docker://127.0.0.1:$port/v/$fresh:v1 --tls-verify=false --parallel 4")" \
    "skopeo copy" "$(iso "$skopeo")" "$runs"
bench_pair "vm2oci push --parallel 1" \
    "$(iso "$bin push -q oci:$work/l:clone docker://127.0.0.1:$port/p/$fresh:v1 --tls-verify=false --parallel 1")" \
    "skopeo copy" "$(iso "$skopeo")" "$runs"
bench_pair "vm2oci push --chunk-size 8M" \
    "$(iso "$bin push -q oci:$work/l:clone docker://127.0.0.1:$port/c/$fresh:v1 --tls-verify=false --chunk-size 8M")" \
    "skopeo copy" "$(iso "$skopeo")" "$runs"
bench_pair "vm2oci push (again: 0 bytes)" \
    "$(iso "$bin push -q oci:$work/l:clone docker://127.0.0.1:$port/same:v1 --tls-verify=false")" \
    "skopeo copy (again)" \
    "$(iso "skopeo copy -q --dest-tls-verify=false oci:$work/l:clone docker://127.0.0.1:$port/same:v1")" "$runs"
