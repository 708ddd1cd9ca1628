#!/usr/bin/env bash
# bench/many-entries.sh VM2OCI DISK WORKDIR [N] - a base with N (default
# 1,000,000) entries: time and peak RSS of converting DISK on it (cold: no
# tree cache; warm: the cache made by the cold run), side by side with
# `umoci unpack` of the same base (whole-process figures, GNU time), and the
# bytes per entry of vm2oci's peak RSS over a scratch conversion's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bin=$1 disk=$2 work=$3 n=${4:-1000000}
mkdir -p "$work"
base=$work/many-$n
[ -f "$base/index.json" ] || python3 "$here/many-entries.py" "$base" "$n"
export VM2OCI_CACHE=$work/cache
rm -rf "$work/cache" "$work/out" "$work/bundle"
echo "base: $n entries, layer $(du -sh "$base/blobs" | cut -f1)"
read -r w0 m0 < <(CMD_FOR_ERR=scratch bench_one "VM2OCI_CACHE=off $bin convert '$disk' -o '$work/out' --tag t --quiet; rm -rf '$work/out'")
read -r w1 m1 < <(CMD_FOR_ERR=cold bench_one "VM2OCI_CACHE=off $bin convert '$disk' --base 'oci:$base:many' -o '$work/out' --tag t --quiet; rm -rf '$work/out'")
read -r w2 m2 < <(CMD_FOR_ERR=fill bench_one "$bin convert '$disk' --base 'oci:$base:many' -o '$work/out' --tag t --quiet; rm -rf '$work/out'")
read -r w3 m3 < <(CMD_FOR_ERR=warm bench_one "$bin convert '$disk' --base 'oci:$base:many' -o '$work/out' --tag t --quiet; rm -rf '$work/out'")
read -r w4 m4 < <(CMD_FOR_ERR=umoci bench_one "umoci unpack --rootless --image '$base:many' '$work/bundle'; rm -rf '$work/bundle'")
printf '%-40s wall %7.2f s  peak RSS %8d KiB\n' "vm2oci convert on scratch" "$w0" "$m0" \
    "vm2oci convert on base, no cache" "$w1" "$m1" "vm2oci convert on base, cache fill" "$w2" "$m2" \
    "vm2oci convert on base, cache warm" "$w3" "$m3" "umoci unpack of the base" "$w4" "$m4"
echo "tree cache: $(du -sb "$work/cache" | cut -f1) bytes"
awk -v a="$m1" -v b="$m0" -v n="$n" 'BEGIN { printf "vm2oci bytes per base entry (peak RSS over scratch): %.0f\n", (a - b) * 1024 / n }'
