#!/usr/bin/env bash
# tests/cli/gc.sh VM2OCI - vm2oci gc on a layout convert wrote, checked with peers:
#  1. two images on one oci: base (its layer shared), each with an SBOM referrer; one is
#     converted again under its tag with another --compress (zstd -> gzip), and killed
#     writers' temporaries are planted. The garbage is computed with jq from the manifests
#     (the old image's and its SBOM's blobs no kept manifest names); gc --dry-run --json lists
#     exactly it and removes nothing, gc removes exactly it and the temporaries;
#     umoci gc, given the index gc left, keeps the same blobs;
#  2. every remaining image is read by skopeo inspect, umoci unpack and oci-image-tool
#     validate, `vm2oci verify` passes, and the kept image's SBOM is still its referrer;
#  3. a writer in the layout: gc --no-wait refuses (exit 1), gc waits for it (a flock -s
#     holder, then a real convert stopped with SIGSTOP inside the layout) and the writer's tag
#     is whole afterwards;
#  4. batch --plan ... --gc re-makes a tag and removes the image it replaced;
#  5. not a layout: exit 1, one line, nothing touched; no DIR: exit 2.
# Needs $VM2OCI_FIXTURES (debian-gpt.qcow2, debian-mbr.raw, base-oci); exit 77 without.
set -euo pipefail
bin=${1:?usage: gc.sh VM2OCI}
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in jq skopeo umoci oci-image-tool flock; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
fx=${VM2OCI_FIXTURES:-}
for f in debian-gpt.qcow2 debian-mbr.raw base-oci/index.json; do
    [ -n "$fx" ] && [ -e "$fx/$f" ] || { echo "SKIP: \$VM2OCI_FIXTURES/$f is missing"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-gc-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
L=$work/L
base=oci:$fx/base-oci:minbase

# closure HEX...: the manifests and every blob they name, sorted hex lines.
closure() {
    for m in "$@"; do
        echo "$m"
        jq -r '.config.digest, .layers[].digest' "$L/blobs/sha256/$m" | cut -d: -f2
    done | LC_ALL=C sort -u
}
tag_hex() { jq -r --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$L/index.json" | cut -d: -f2; }
sbom_hex() { tag_hex "sha256-$1.sbom"; }
blobs() { ls -A "$L/blobs/sha256" | LC_ALL=C sort; }

# ---- 1. a replaced image's blobs, exactly ----------------------------------------------------
"$bin" convert "$fx/debian-gpt.qcow2" -o "$L" --base "$base" --tag vm --compress zstd --sbom spdx -q
"$bin" convert "$fx/debian-mbr.raw" -o "$L" --base "$base" --tag mbr --compress gzip --sbom cyclonedx -q
old=$(tag_hex vm); old_sbom=$(sbom_hex "$old")
[ -n "$old_sbom" ] || fail "no SBOM referrer for the first image"
"$bin" convert "$fx/debian-gpt.qcow2" -o "$L" --base "$base" --tag vm --compress gzip --sbom spdx -q
new=$(tag_hex vm); mbr=$(tag_hex mbr)
[ "$new" != "$old" ] || fail "the second convert did not replace the image"
closure "$old" "$old_sbom" >"$work/old"
closure "$new" "$(sbom_hex "$new")" "$mbr" "$(sbom_hex "$mbr")" >"$work/kept"
LC_ALL=C comm -23 "$work/old" "$work/kept" >"$work/want"
# the manifest, the zstd top layer, the SBOM manifest and blob (the config, of the same
# diff_ids, stays)
[ "$(wc -l <"$work/want")" -ge 4 ] || fail "expected at least 4 garbage blobs, computed $(wc -l <"$work/want")"
base_layer=$(jq -r '.layers[0].digest' "$L/blobs/sha256/$new" | cut -d: -f2)
grep -qx "$base_layer" "$work/old" && ! grep -qx "$base_layer" "$work/want" ||
    fail "the shared base layer is not in both images"
# what a writer killed with -9 leaves (the names our writers use)
printf 1234567 >"$L/blobs/sha256/.tmp-layer-Ab12Cd"
printf 12 >"$L/index.json.tmp-Zz9Yy8"
mkdir "$L.tmp-Qw3Er4" && printf 12345 >"$L.tmp-Qw3Er4/x"
blobs >"$work/before"

"$bin" gc "$L" --dry-run --json >"$work/dry.json" || fail "gc --dry-run"
jq -r '.items[] | select(.kind == "blob") | .name' "$work/dry.json" | cut -d: -f2 | LC_ALL=C sort >"$work/dry"
diff "$work/want" "$work/dry" || fail "gc --dry-run lists other blobs than the replaced image's"
jq -e '.dry_run and .removed.temporaries == 3 and .removed.referrers == 1' "$work/dry.json" >/dev/null ||
    fail "gc --dry-run: $(jq -c .removed "$work/dry.json")"
blobs | diff "$work/before" - || fail "gc --dry-run removed something"
[ -e "$L.tmp-Qw3Er4" ] && [ -e "$L/index.json.tmp-Zz9Yy8" ] || fail "gc --dry-run removed a temporary"

cp -a "$L" "$work/u"
"$bin" gc "$L" --json >"$work/gc.json" || fail "gc"
jq -r '.items[] | select(.kind == "blob") | .name' "$work/gc.json" | cut -d: -f2 | LC_ALL=C sort >"$work/got"
diff "$work/want" "$work/got" || fail "gc reports other blobs than the replaced image's"
blobs | LC_ALL=C comm -23 "$work/before" - >"$work/gone"
{ cat "$work/want"; echo .tmp-layer-Ab12Cd; } | LC_ALL=C sort | diff - "$work/gone" ||
    fail "gc removed other files than the replaced image's blobs and the temporary"
[ ! -e "$L.tmp-Qw3Er4" ] && [ ! -e "$L/index.json.tmp-Zz9Yy8" ] || fail "gc left a temporary"
[ -z "$(sbom_hex "$old")" ] || fail "the replaced image's SBOM is still listed"
echo "ok: gc removed exactly the $(wc -l <"$work/want") blobs of the replaced image" \
    "($(jq .removed.bytes "$work/gc.json") bytes), kept $(jq .kept.blobs "$work/gc.json")"
# umoci gc as the second opinion: on the same layout with the index gc left (umoci keeps an
# orphaned referrer listed in the index), it keeps the very same blobs.
cp "$L/index.json" "$work/u/index.json" && rm -f "$work/u/blobs/sha256/".tmp-* # umoci takes them for blobs
umoci gc --layout "$work/u" || fail "umoci gc"
ls "$work/u/blobs/sha256" | LC_ALL=C sort | diff - <(ls "$L/blobs/sha256" | LC_ALL=C sort) ||
    fail "umoci gc keeps other blobs than vm2oci gc"
rm -rf "$work/u"
echo "ok: umoci gc keeps the same blobs"

# ---- 2. what is left, read by the peers ------------------------------------------------------
for t in vm mbr; do
    skopeo inspect "oci:$L:$t" >/dev/null || fail "skopeo inspect oci:$L:$t"
    umoci unpack --rootless --image "$L:$t" "$work/unpack-$t" >/dev/null 2>&1 || fail "umoci unpack $t"
    rm -rf "$work/unpack-$t" "$work/v"
    cp -a "$L" "$work/v"
    jq --arg t "$t" '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == $t))' \
        "$L/index.json" >"$work/v/index.json"
    oci-image-tool validate --type image --ref "name=$t" "$work/v" >/dev/null || fail "oci-image-tool $t"
done
"$bin" verify "oci:$L:vm" "$fx/debian-gpt.qcow2" -q >/dev/null || fail "vm2oci verify oci:$L:vm"
for m in "$new" "$mbr"; do
    s=$(skopeo inspect --raw "oci:$L:sha256-$m.sbom" | jq -r .subject.digest)
    [ "$s" = "sha256:$m" ] || fail "the SBOM of sha256:$m lost its subject ($s)"
done
echo "ok: skopeo, umoci, oci-image-tool read both images, verify passes, both SBOMs kept"

# ---- 3. a writer in the layout ---------------------------------------------------------------
flock -s "$L" sleep 3 & pids+=($!)
until ! flock -n -x "$L" true; do sleep 0.05; done
if "$bin" gc "$L" --no-wait 2>"$work/err"; then fail "gc --no-wait ran beside a writer"; fi
grep -q "a writer (convert or batch) is using the layout" "$work/err" || fail "gc --no-wait: $(cat "$work/err")"
t0=$(date +%s.%N)
"$bin" gc "$L" --json 2>"$work/err" >"$work/wait.json" || fail "gc beside a writer"
waited=$(jq .seconds_waited "$work/wait.json")
awk -v w="$waited" 'BEGIN { exit !(w >= 1) }' || fail "gc did not wait for the lock holder ($waited s)"
grep -q "waiting for the writers" "$work/err" || fail "gc did not say it waits"
wait "${pids[0]}"
# A real convert, stopped while it is inside the layout (its shared lock held).
"$bin" convert "$fx/debian-gpt.qcow2" -o "$L" --base scratch --tag w --compress gzip -q & cpid=$!
pids+=("$cpid")
for _ in $(seq 600); do
    flock -n -x "$L" true || break
    kill -0 "$cpid" 2>/dev/null || fail "the convert ended before it was seen in the layout"
    sleep 0.01
done
kill -STOP "$cpid"
! flock -n -x "$L" true || fail "the convert was never seen holding the layout"
"$bin" gc "$L" -q & gpid=$!
pids+=("$gpid")
sleep 1
kill -0 "$gpid" 2>/dev/null || fail "gc did not wait for the stopped convert"
kill -CONT "$cpid"
wait "$cpid" || fail "the convert beside gc failed"
wait "$gpid" || fail "gc after the convert failed"
pids=()
skopeo inspect "oci:$L:w" >/dev/null || fail "the convert's tag w lost blobs"
umoci unpack --rootless --image "$L:w" "$work/unpack-w" >/dev/null 2>&1 || fail "umoci unpack w"
echo "ok: gc refused with --no-wait, waited ${waited}s for a lock holder and for a stopped convert, whose image is whole"

# ---- 4. batch --gc: a plan entry re-makes tag vm (batch annotations: a new manifest) --------
printf '{"domain":"d1","tag":"vm","disks":[{"target":"vda","path":"%s","format":"qcow2"}],"base":"%s"}\n' \
    "$fx/debian-gpt.qcow2" "$base" >"$work/plan.jsonl"
before_vm=$(tag_hex vm)
"$bin" batch --plan "$work/plan.jsonl" --index 0 -o "$L" --compress gzip --gc --json >"$work/batch.json" ||
    fail "batch --gc"
after_vm=$(tag_hex vm)
[ "$after_vm" != "$before_vm" ] || fail "batch did not replace tag vm"
[ ! -e "$L/blobs/sha256/$before_vm" ] || fail "batch --gc kept the replaced manifest"
jq -e '.totals.gc.removed_blobs >= 1 and .totals.gc.referrers == 1' "$work/batch.json" >/dev/null ||
    fail "batch --gc totals: $(jq -c .totals.gc "$work/batch.json")"
skopeo inspect "oci:$L:vm" >/dev/null && skopeo inspect "oci:$L:mbr" >/dev/null && skopeo inspect "oci:$L:w" >/dev/null ||
    fail "an image lost blobs to batch --gc"
echo "ok: batch --gc removed the replaced image's $(jq .totals.gc.removed_blobs "$work/batch.json") blobs"

# ---- 5. not a layout, usage --------------------------------------------------------------------
mkdir -p "$work/notlayout/blobs/sha256" && echo x >"$work/notlayout/blobs/sha256/$new"
rc=0; "$bin" gc "$work/notlayout" 2>"$work/err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <"$work/err")" = 1 ] && grep -q "not an OCI image layout" "$work/err" ||
    fail "gc of a non-layout: exit $rc, $(cat "$work/err")"
[ -e "$work/notlayout/blobs/sha256/$new" ] || fail "gc of a non-layout removed a file"
rc=0; "$bin" gc 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "gc without DIR: exit $rc, not 2"
echo "ok: a non-layout is refused untouched (exit 1), no DIR is a usage error (exit 2)"
