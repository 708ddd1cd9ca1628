#!/usr/bin/env bash
# bench/compare.sh FIXTURES [RUNS] [CHART.svg]
#
# What the block-level analysis costs next to the file-level diff alone:
#   vm2oci compare disk:template.qcow2 clone.qcow2
#       (file level with the layer written raw, gzip and zstd, then the block
#        view: lineage extents, 4 KiB refine, mapping, blocks zstd, deltas)
#   vm2oci diff disk:template.qcow2 clone.qcow2 --no-layer-sizes
#       (trees and the file-level diff only)
# Wall seconds and peak RSS (GNU time '%e %M'), medians of RUNS alternating
# pairs and the median ratio compare/diff; then compare's own output, whose
# per-phase times say how much of the gap is the layer writes and how much
# the block view, and the strategies side by side (file and block: changed
# files, bytes read, seconds, layer and delta bytes; CHART.svg, default
# $TMPDIR/vm2oci-compare.svg, draws them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
fx=$(cd "${1:?usage: bench/compare.sh FIXTURES [RUNS]}" && pwd)
runs=${2:-3}
chart=${3:-${TMPDIR:-/tmp}/vm2oci-compare.svg}
bin=${VM2OCI:-$top/build/cli/vm2oci}
[ -x "$bin" ] || { echo "bench: $bin is not built (set VM2OCI)" >&2; exit 1; }
for f in template.qcow2 clone.qcow2; do
    [ -f "$fx/$f" ] || { echo "bench: $fx/$f is missing (fixtures/make-fixtures.sh)" >&2; exit 1; }
done

# Relative names, as the fixtures' backing file is: run from the folder.
cmp="cd $fx && $bin compare disk:template.qcow2 clone.qcow2 --max-file-size 2G --quiet"
dif="cd $fx && $bin diff disk:template.qcow2 clone.qcow2 --max-file-size 2G --no-layer-sizes --quiet"
bench_pair "vm2oci compare" "$cmp" "vm2oci diff --no-layer-sizes" "$dif" "$runs"
(cd "$fx" && "$bin" compare disk:template.qcow2 clone.qcow2 --max-file-size 2G --quiet)
echo
(cd "$fx" && "$bin" compare disk:template.qcow2 clone.qcow2 --max-file-size 2G --quiet --json \
    --chart "$chart") >"$chart.json"
jq -r '.strategies[] | [.strategy, .changed_files, .bytes_read, (.seconds_to_find_changes * 100 | round / 100),
        (.seconds * 100 | round / 100), .layer_bytes.zstd, .delta_bytes.zstd_patch_from,
        .delta_bytes.rsync] | map(tostring) | join("\t")' "$chart.json" |
    column -t -s $'\t' -N "strategy,changed files,bytes read,find s,with layers s,layer zstd,patch-from,rsync"
jq -r .verdict "$chart.json"
echo "chart: $chart"
