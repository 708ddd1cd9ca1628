#!/usr/bin/env bash
# bench/graph.sh [VM2OCI] - dependency-graph work on hostile dpkg databases.
#
# Generates (bench/gen-dpkg-db.sh) a 50,000-package cycle, a 50,000-package
# dense graph (8 direct dependencies each and a virtual name half of them
# provide) and 50,000 packages that all provide and depend on one virtual
# name, puts each in a small ext4 image (mke2fs -d), and times
# `vm2oci packages --roots` and `vm2oci convert --dockerfile` on it (whole
# process: GNU time -v, wall seconds and peak RSS), beside peers on the same
# database: `dpkg-query -W --admindir` (reading it) and `tsort` on the
# package-to-package edge list (ordering it; GNU tsort reports the cycles).
# Needs mke2fs, dpkg-query, tsort, GNU time. VM2OCI defaults to build/cli/vm2oci.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
vm2oci=${1:-$here/../build/cli/vm2oci}
n=${N:-50000}
[ -x "$vm2oci" ] || { echo "graph.sh: $vm2oci is not built" >&2; exit 1; }
for t in mke2fs dpkg-query tsort /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "graph.sh: $t is needed" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/vm2oci-graph.XXXXXX")
trap 'rm -rf "$work"' EXIT

# measure NAME CMD...: one line with wall seconds and peak RSS (MiB).
measure() {
    local name=$1 log=$work/time.log
    shift
    if ! /usr/bin/time -v "$@" >"$work/out" 2>"$log"; then
        echo "graph.sh: failed: $*" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    awk -v name="$name" -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
                                   for (i = 1; i <= n; i++) s = s * 60 + p[i]; wall = s }
        /Maximum resident set size/ { rss = $2 }
        END { printf "  %-44s %8.2f s %8.1f MiB\n", name, wall, rss / 1024 }' "$log"
}

# The edge list tsort orders: "a b" for every name b that package a depends
# on (every alternative), and "v p" for every package p providing v: a
# virtual name is one node, as vm2oci's provider groups are, so the list
# stays linear in the database.
edges() {
    awk '
        /^Package: / { p = $2 }
        /^Provides: / { m = split(substr($0, 11), v, /, */); for (i = 1; i <= m; i++) print v[i], p }
        /^Depends: / { m = split(substr($0, 10), alts, /[,|] */)
                       for (i = 1; i <= m; i++) { split(alts[i], w, / /); print p, w[1] } }' "$1"
}

for kind in cycle dense virtual; do
    root=$work/$kind
    "$here/gen-dpkg-db.sh" "$kind" "$n" "$root"
    # What makes the filesystem a Linux root to vm2oci.
    mkdir -p "$root/etc" "$root/usr"
    printf 'ID=debian\nVERSION_ID="12"\n' >"$root/etc/os-release"
    mke2fs -q -t ext4 -d "$root" "$work/$kind.img" 256M
    echo "$kind, $n packages:"
    measure "vm2oci packages --roots" "$vm2oci" packages --roots "$work/$kind.img"
    head -n 1 "$work/out" | sed 's/^/    /'
    measure "vm2oci convert --dockerfile (scratch)" "$vm2oci" convert -q -c none \
        -o "$work/$kind.oci" --dockerfile "$work/$kind.Dockerfile" "$work/$kind.img"
    measure "dpkg-query -W --admindir (read)" dpkg-query --admindir="$root/var/lib/dpkg" -W
    edges "$root/var/lib/dpkg/status" >"$work/$kind.edges"
    measure "tsort ($(wc -l <"$work/$kind.edges") edges, cut at 300 s)" \
        sh -c "timeout 300 tsort '$work/$kind.edges' >/dev/null 2>&1; true"
    rm -rf "$root" "$work/$kind.img" "$work/$kind.oci" "$work/$kind.Dockerfile" "$work"/vm2oci-diff.tar "$work/$kind.edges"
done
