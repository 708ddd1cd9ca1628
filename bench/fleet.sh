#!/usr/bin/env bash
# bench/fleet.sh WORKDIR [N] [RUNS]
#
# vm2oci batch over a fleet of N (default 4) clones of the fixture template on
# libvirt's test driver (no daemon), each a copy of the fixture clone.qcow2
# (its backing file, template.qcow2, beside it as a symlink), shut off
# (the test driver's runstate 5):
#   1. the whole fleet with -j 1 against -j 2 (wall, peak RSS), into a fresh
#      layout each run, and the fleet's dedup figure (bytes in blobs/ against
#      the sum of the images' own bytes);
#   2. one domain through batch against a single `convert` of the same disk
#      (what the batch machinery costs per domain).
# Both against the same --base disk:template.qcow2 (the block strategy),
# --compress zstd. Needs VM2OCI_FIXTURES (fixtures/make-fixtures.sh's output).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"
work=$(mkdir -p "${1:?usage: bench/fleet.sh WORKDIR [N] [RUNS]}" && cd "$1" && pwd)
n=${2:-4}
runs=${3:-3}
bin=${VM2OCI:-$top/build/cli/vm2oci}
fx=${VM2OCI_FIXTURES:?set VM2OCI_FIXTURES to the fixtures directory}
[ -x "$bin" ] || { echo "bench: $bin is not built (set VM2OCI)" >&2; exit 1; }
for f in template.qcow2 clone.qcow2; do
    [ -f "$fx/$f" ] || { echo "bench: $fx/$f is missing (fixtures/make-fixtures.sh)" >&2; exit 1; }
done

ln -sfn "$fx/template.qcow2" "$work/template.qcow2"
{
    echo "<node>"
    for ((i = 1; i <= n; i++)); do
        [ -f "$work/clone-$i.qcow2" ] || cp --sparse=always "$fx/clone.qcow2" "$work/clone-$i.qcow2"
        cat <<EOF
  <domain type="test"><name>clone-$i</name><memory>131072</memory><os><type>hvm</type></os>
    <test:runstate xmlns:test="http://libvirt.org/schemas/domain/test/1.0">5</test:runstate>
    <devices><disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="$work/clone-$i.qcow2"/><target dev="vda" bus="virtio"/></disk></devices>
  </domain>
EOF
    done
    echo "</node>"
} >"$work/fleet.xml"

common="--base disk:$work/template.qcow2 --backing-dir $fx --max-file-size 2G --quiet"
batch="$bin batch --connect test://$work/fleet.xml $common"

echo "== $n clones of the template: the whole fleet, -j 1 against -j 2 (cores: $(nproc))"
bench_pair "batch -j 1 ($n domains)" "rm -rf $work/j1 && $batch -o $work/j1 -j 1" \
    "batch -j 2 ($n domains)" "rm -rf $work/j2 && $batch -o $work/j2 -j 2" "$runs"

rm -rf "$work/dedup"
$batch -o "$work/dedup" -j 2 --json >"$work/dedup.json" || true
jq -r '.totals | "dedup: \(.blob_bytes) bytes in blobs/ for \(.image_bytes_sum) bytes of \(.converted) images (\(.image_bytes_sum / .blob_bytes * 100 | floor / 100)x)"' "$work/dedup.json"
jq -r '.domains[] | "  \(.domain): \(.strategy), \(.seconds * 10 | floor / 10) s, diff layer \(.diff_layer_bytes) bytes"' "$work/dedup.json"
echo

echo "== one domain: batch --domain clone-1 against convert of its disk"
bench_pair "batch --domain clone-1 -j 1" "rm -rf $work/one-b && $batch -o $work/one-b -j 1 --domain clone-1" \
    "convert clone-1.qcow2" "rm -rf $work/one-c && $bin convert $work/clone-1.qcow2 -o $work/one-c $common" "$runs"
