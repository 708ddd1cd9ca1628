#!/usr/bin/env bash
# bench/gzip-cpus.sh DISK
#
# Does a gzip layer depend on the CPU that made it? ISA-L (gzip levels 1-3) picks its
# deflate code at run time by CPUID: a C fallback, SSE4, AVX2, AVX-512 versions. This
# converts DISK (--base scratch) with --compress gzip at levels 1, 2 and 3 natively and
# under qemu-user's CPU models (qemu64: no SSE4, the C path; Nehalem: SSE4.2; Haswell:
# whatever TCG gives of AVX2) and prints the layer digest of each; a level whose digests
# differ is a level whose output depends on the CPU. Needs qemu-user (qemu-x86_64) and jq;
# ~10 s per emulated convert of the 512 MiB sample disk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
disk=${1:?usage: bench/gzip-cpus.sh DISK}
bin=${VM2OCI:-$top/build/cli/vm2oci}
command -v qemu-x86_64 >/dev/null || { echo "gzip-cpus: qemu-x86_64 is needed (apt-get install qemu-user)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-gzcpu-XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "host CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
status=0
for level in 1 2 3; do
    seen=
    for cpu in host qemu64 Nehalem Haswell; do
        run=()
        [ "$cpu" = host ] || run=(qemu-x86_64 -cpu "$cpu")
        rm -rf "$work/out"
        d=$("${run[@]}" "$bin" convert "$disk" -o "$work/out" --base scratch --compress gzip \
            --level "$level" --quiet --json 2>/dev/null | jq -r '.layers[-1].digest')
        printf 'level %s  %-8s %s\n' "$level" "$cpu" "$d"
        [ -z "$seen" ] || [ "$seen" = "$d" ] || status=1
        seen=$d
    done
done
[ "$status" = 0 ] && echo "gzip-cpus: the same bytes on every CPU model" ||
    echo "gzip-cpus: some level's bytes depend on the CPU"
exit $status
