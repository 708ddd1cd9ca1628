#!/usr/bin/env bash
# bench/gzip-cpus.sh DISK [LEVEL...]
#
# Does a gzip layer depend on the CPU that made it? The default gzip engine (libdeflate)
# has no CPU-specific match finding; ISA-L (--gzip-fast) picks its deflate code at run time
# by CPUID: a C fallback, SSE4, AVX2, AVX-512 versions. This converts DISK (--base scratch)
# with --compress gzip at each LEVEL (default 1 2 3 6 9) natively and under qemu-user's CPU
# models (qemu64: no SSE4; Nehalem: SSE4.2; Haswell: whatever TCG gives of AVX2) and prints
# the layer digest of each; a level whose digests differ is a level whose output depends on
# the CPU, and fails the run. Then it prints the same for --gzip-fast levels 1-3, where
# differing digests are expected (information, not failure). Needs qemu-user (qemu-x86_64)
# and jq; ~10-30 s per emulated convert of the sample VM (debian-gpt.qcow2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
disk=${1:?usage: bench/gzip-cpus.sh DISK [LEVEL...]}
shift
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(1 2 3 6 9)
bin=${VM2OCI:-$top/build/cli/vm2oci}
command -v qemu-x86_64 >/dev/null || { echo "gzip-cpus: qemu-x86_64 is needed (apt-get install qemu-user)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-gzcpu-XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "host CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"

# digests ENGINE LEVEL: one line per CPU model; returns 1 when they differ.
digests() {
    local engine=$1 level=$2 seen= d cpu differ=0 extra=()
    [ "$engine" = fast ] && extra=(--gzip-fast)
    for cpu in host qemu64 Nehalem Haswell; do
        run=()
        [ "$cpu" = host ] || run=(qemu-x86_64 -cpu "$cpu")
        rm -rf "$work/out"
        d=$("${run[@]}" "$bin" convert "$disk" -o "$work/out" --base scratch --compress gzip \
            --level "$level" "${extra[@]}" --quiet --json 2>/dev/null | jq -r '.layers[-1].digest')
        printf '%-8s level %s  %-8s %s\n' "$engine" "$level" "$cpu" "$d"
        [ -z "$seen" ] || [ "$seen" = "$d" ] || differ=1
        seen=$d
    done
    return $differ
}

status=0
for level in "${levels[@]}"; do
    digests default "$level" || status=1
done
for level in 1 2 3; do
    digests fast "$level" || echo "fast     level $level: bytes depend on the CPU (expected with --gzip-fast)"
done
[ "$status" = 0 ] && echo "gzip-cpus: the default engine gives the same bytes on every CPU model" ||
    echo "gzip-cpus: some default level's bytes depend on the CPU"
exit $status
