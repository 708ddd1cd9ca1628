#!/bin/sh
# make_multi.sh LAYOUT MULTI FLAT - from an OCI layout with tags "base" and
# "two", makes MULTI (index.json -> one nested image index listing "two" as
# linux/arm64 and "base" as linux/amd64, tagged "multi") and FLAT (index.json
# itself multi-platform, untagged).
set -e
layout=$1 multi=$2 flat=$3
sel() {
	jq -c --arg t "$1" --arg a "$2" '.manifests[]
		| select(.annotations["org.opencontainers.image.ref.name"] == $t)
		| del(.annotations) + {platform: {architecture: $a, os: "linux"}}' "$layout/index.json"
}
two=$(sel two arm64)
base=$(sel base amd64)
cp -a "$layout" "$multi"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
	"$two" "$base" > "$multi/ix"
d=$(sha256sum "$multi/ix" | cut -d' ' -f1)
n=$(stat -c %s "$multi/ix")
mv "$multi/ix" "$multi/blobs/sha256/$d"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"multi"}}]}' \
	"$d" "$n" > "$multi/index.json"
cp -a "$layout" "$flat"
printf '{"schemaVersion":2,"manifests":[%s,%s]}' "$two" "$base" > "$flat/index.json"
