#!/usr/bin/env bash
# tests/cli/test_slurm_push.sh - vm2oci fleets through Slurm, pushing to a registry.
#
# Starts docker-registry (tests/lib/registry.sh) and a one-node Slurm cluster
# (tests/lib/slurm-one-node.sh), then:
#   srun:   `srun vm2oci convert debian-gpt.qcow2 --base disk:template.qcow2 --push
#           docker://127.0.0.1:PORT/fleet/gpt` (its first layer is the template's tree)
#   array:  `sbatch --wait --array=0-1 contrib/slurm/convert-array.sbatch`, two fixture disks on
#           the template (clone.qcow2 and debian-mbr.raw), each mounting the template's layer
#           from fleet/gpt
#   per host: `sbatch --wait contrib/slurm/per-host.sbatch` (srun vm2oci batch --push) on a
#           libvirt test-driver hypervisor of two shut-off domains on those disks
#   plan:   `vm2oci batch --plan-out`, then `sbatch --wait --array=0-1
#           contrib/slurm/plan-array.sbatch` (batch --plan --push, one entry a task)
# and checks every tag in the registry with skopeo (the manifest digest), `vm2oci verify` of
# each image copied back against its disk, the mounts in the registry's log, and that the
# registry stores no more than the unique blobs. Daemons are stopped by pid at the end, also
# on failure; a daemon that does not start fails the test with its log (never a skip).
# ctest runs it (label slow); env: VM2OCI_BINARY, VM2OCI_SOURCE_DIR, VM2OCI_FIXTURES.
set -euo pipefail

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf 'SKIP: %s\n' "$*" >&2; exit 77; }

bin=${VM2OCI_BINARY:?} src=${VM2OCI_SOURCE_DIR:?} fx=${VM2OCI_FIXTURES:-}
[ "$(id -u)" -eq 0 ] || skip "Slurm's daemons and the disks need root"
for t in docker-registry skopeo jq munged slurmctld slurmd srun sbatch; do
    command -v "$t" >/dev/null || skip "$t is not installed (scripts/install-deps.sh --peers)"
done
[ -f "$fx/template.qcow2" ] && [ -f "$fx/clone.qcow2" ] && [ -f "$fx/debian-gpt.qcow2" ] && [ -f "$fx/debian-mbr.raw" ] \
    || skip "fixtures missing (set VM2OCI_FIXTURES to the output of fixtures/make-fixtures.sh)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-slurm-XXXXXX")
# a cache of our own (the jobs inherit it): the machine's may hold trees other builds wrote
export VM2OCI_CACHE=$dir/cache
cleanup() {
    "$src/tests/lib/slurm-one-node.sh" stop "$dir/slurm" || true
    "$src/tests/lib/registry.sh" stop "$dir/registry" || true
    rm -rf "$dir"
}
trap cleanup EXIT

port=$("$src/tests/lib/registry.sh" start "$dir/registry") || fail "docker-registry did not start"
reg=127.0.0.1:$port
SLURM_CONF=$("$src/tests/lib/slurm-one-node.sh" start "$dir/slurm") || fail "the Slurm cluster did not start"
export SLURM_CONF
push_opts=(--tls-verify=false)

# srun: one task, a VM on the template.
srun --nodes=1 --ntasks-per-node=1 "$bin" convert "$fx/debian-gpt.qcow2" --base "disk:$fx/template.qcow2" -q \
    --push "docker://$reg/fleet/gpt:v1" "${push_opts[@]}" \
    || fail "srun vm2oci convert --push failed"

# the array: two VMs on the template, one a task
printf '%s clone --base disk:%s --max-file-size 2G --mount-from fleet/gpt\n' "$fx/clone.qcow2" "$fx/template.qcow2" > "$dir/list"
printf '%s mbr --base disk:%s --mount-from fleet/gpt\n' "$fx/debian-mbr.raw" "$fx/template.qcow2" >> "$dir/list"
VM2OCI=$bin TAG=v1 sbatch --wait --array=0-1 -o "$dir/task-%a.log" \
    "$src/contrib/slurm/convert-array.sbatch" "$dir/list" "docker://$reg/fleet" "${push_opts[@]}" \
    || { cat "$dir"/task-*.log >&2; fail "sbatch --wait --array failed"; }

# the batch modes: a hypervisor (libvirt's test driver) of two shut-off domains
dom() {
    printf '  <domain type="test"><name>%s</name><memory>131072</memory><os><type>hvm</type></os>\n' "$1"
    printf '    <test:runstate xmlns:test="http://libvirt.org/schemas/domain/test/1.0">5</test:runstate>\n'
    printf '    <devices><disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="%s"/>' "$2"
    printf '<target dev="vda" bus="virtio"/></disk></devices>\n  </domain>\n'
}
{ echo "<node>"; dom web-1 "$fx/debian-gpt.qcow2"; dom Web_2 "$fx/clone.qcow2"; echo "</node>"; } > "$dir/node.xml"
batch_opts=(--base "disk:$fx/template.qcow2" --max-file-size 2G "${push_opts[@]}" -q)
CONNECT=test:///$dir/node.xml OUT=$dir/hosts VM2OCI=$bin sbatch --wait -o "$dir/hosts.log" \
    "$src/contrib/slurm/per-host.sbatch" "docker://$reg/fleet/hosts" "${batch_opts[@]}" \
    || { cat "$dir/hosts.log" >&2; fail "sbatch per-host.sbatch (batch --push) failed"; }
"$bin" batch --connect "test:///$dir/node.xml" --base "disk:$fx/template.qcow2" --plan-out "$dir/plan.jsonl" -q \
    || fail "batch --plan-out"
[ "$(wc -l < "$dir/plan.jsonl")" = 2 ] || fail "the plan has not two entries"
OUT=$dir/planned VM2OCI=$bin sbatch --wait --array=0-1 -o "$dir/plan-%a.log" \
    "$src/contrib/slurm/plan-array.sbatch" "$dir/plan.jsonl" "docker://$reg/fleet/plan" \
    --max-file-size 2G "${push_opts[@]}" -q \
    || { cat "$dir"/plan-*.log >&2; fail "sbatch --array plan-array.sbatch (batch --plan --push) failed"; }
for repo in hosts plan; do
    for tag in web-1 Web_2; do
        got=$(skopeo inspect --raw --tls-verify=false "docker://$reg/fleet/$repo:$tag" | sha256sum | cut -d' ' -f1) \
            || fail "fleet/$repo:$tag is not in the registry"
        local_dir=$dir/hosts; [ "$repo" = plan ] && local_dir=$dir/planned
        want=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
            "$local_dir/index.json")
        [ "sha256:$got" = "$want" ] || fail "fleet/$repo:$tag: registry sha256:$got, local $want"
        printf 'ok docker://%s/fleet/%s:%s %s\n' "$reg" "$repo" "$tag" "$want"
    done
done

# every tag: pulled back, its digest the registry's, verified against its disk
declare -A disk=([gpt]=debian-gpt.qcow2 [clone]=clone.qcow2 [mbr]=debian-mbr.raw)
for name in gpt clone mbr; do
    ref=docker://$reg/fleet/$name:v1
    skopeo copy -q --src-tls-verify=false "$ref" "oci:$dir/pulled-$name:v1" || fail "skopeo copy $ref"
    want=$(jq -r '.manifests[0].digest' "$dir/pulled-$name/index.json")
    got=sha256:$(skopeo inspect --raw --tls-verify=false "$ref" | sha256sum | cut -d' ' -f1)
    [ "$want" = "$got" ] || fail "$ref: registry digest $got, pulled $want"
    "$bin" verify "oci:$dir/pulled-$name:v1" "$fx/${disk[$name]}" --max-file-size 2G > "$dir/verify-$name.txt" \
        || { cat "$dir/verify-$name.txt" >&2; fail "vm2oci verify of $ref against ${disk[$name]}"; }
    printf 'ok %s %s\n' "$ref" "$want"
done

# the template's layer was mounted into both, not uploaded again
base=$(jq -r '.layers[0].digest' "$dir/pulled-gpt/blobs/sha256/$(jq -r '.manifests[0].digest' "$dir/pulled-gpt/index.json" | cut -c8-)")
for name in clone mbr; do
    grep -q "POST /v2/fleet/$name/blobs/uploads/?mount=$base&from=fleet" "$dir/registry/registry.log" \
        || fail "fleet/$name did not mount the template's layer $base"
done
# storage: each unique blob once (the layouts hold every blob pushed, manifests included)
layouts=("$dir"/pulled-* "$dir/hosts" "$dir/planned")
unique=$(for d in "${layouts[@]}"; do ls "$d/blobs/sha256"; done | sort -u | while read -r b; do
    for d in "${layouts[@]}"; do [ -f "$d/blobs/sha256/$b" ] && stat -c %s "$d/blobs/sha256/$b" && break; done
    done | paste -sd+ | bc)
stored=$(find "$dir/registry/storage/docker/registry/v2/blobs" -type f -name data -printf '%s\n' | paste -sd+ | bc)
[ "$stored" -le "$unique" ] || fail "the registry stores $stored bytes of blobs, more than the $unique unique"
printf 'ok registry stores %s bytes of blobs, the unique blobs are %s\n' "$stored" "$unique"
