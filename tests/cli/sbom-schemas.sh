#!/bin/sh
# tests/cli/sbom-schemas.sh CACHE_PARENT
#
# The official CycloneDX 1.5 JSON schema, with the two schemas it references
# (spdx.schema.json: SPDX license ids; jsf-0.82.schema.json: signatures), taken
# from the npm package @cyclonedx/cdxgen, which ships them unmodified in data/.
# Cached in CACHE_PARENT/sbom-schemas-cdxgen-<version>/ (fetched once, written
# under a temporary name and renamed); prints that directory. Never committed.
# Exits non-zero with the reason when npm cannot fetch the package: the test
# that needs the schemas then fails, it does not skip. No registry reachable
# here ships the SPDX 2.3 JSON schema; an official spdx-schema.json (spdx-spec,
# tag v2.3) put into that directory by hand is used by sbom_check.py too.
set -eu
version=12.8.4
[ $# -eq 1 ] || { echo "usage: sbom-schemas.sh CACHE_PARENT" >&2; exit 2; }
out="$1/sbom-schemas-cdxgen-$version"
if [ -s "$out/bom-1.5.schema.json" ]; then
    echo "$out"
    exit 0
fi
command -v npm >/dev/null || { echo "sbom-schemas.sh: npm is not installed" >&2; exit 1; }
mkdir -p "$1"
tmp=$(mktemp -d "$1/.tmp-sbom-schemas.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --silent "@cyclonedx/cdxgen@$version" >npm.out 2>npm.err); then
    echo "sbom-schemas.sh: npm pack @cyclonedx/cdxgen@$version failed: $(tail -n 1 "$tmp/npm.err")" >&2
    exit 1
fi
mkdir "$tmp/schemas"
tar -xzf "$tmp"/cyclonedx-cdxgen-"$version".tgz -C "$tmp" \
    package/data/bom-1.5.schema.json package/data/spdx.schema.json package/data/jsf-0.82.schema.json
mv "$tmp"/package/data/*.json "$tmp/schemas/"
mv "$tmp/schemas" "$out" 2>/dev/null || [ -s "$out/bom-1.5.schema.json" ]
echo "$out"
