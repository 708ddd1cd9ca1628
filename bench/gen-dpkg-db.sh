#!/usr/bin/env bash
# bench/gen-dpkg-db.sh KIND N DIR - writes a hostile dpkg database of N packages
# under DIR (DIR/var/lib/dpkg/status, an empty info/ and available, so that
# `dpkg-query --admindir=DIR/var/lib/dpkg -W` reads it too). Deterministic.
#
#   virtual  every package provides and depends on one virtual name "v": the
#            provides fan-out that would be N^2 edges; one SCC of N
#   cycle    p(i) depends on p(i+1 mod N): one SCC of N, N deep
#   dense    p(i) depends on p(i+1..i+8 mod N) (>= 1.0), and on "v | p(i+1)"
#            where the even packages provide v: one SCC of N
#   star     the even packages provide v and depend on nothing, the odd ones
#            depend on v: no cycle, the N/2 odd packages are the roots
set -euo pipefail

[ $# -eq 3 ] || { sed -n '2,4s/^# \{0,1\}//p' "$0" >&2; exit 2; }
kind=$1 n=$2 dir=$3
case $kind in virtual|cycle|dense|star) ;; *) echo "gen-dpkg-db.sh: unknown kind '$kind'" >&2; exit 2 ;; esac
case $n in ''|*[!0-9]*) echo "gen-dpkg-db.sh: N must be a number" >&2; exit 2 ;; esac
[ "$n" -ge 2 ] || { echo "gen-dpkg-db.sh: N must be at least 2" >&2; exit 2; }

admin=$dir/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates"
: > "$admin/available"
awk -v kind="$kind" -v n="$n" '
function name(i) { return sprintf("p%06d", (i % n + n) % n) }
BEGIN {
    for (i = 0; i < n; i++) {
        prov = ""; dep = ""
        if (kind == "virtual") { prov = "v"; dep = "v" }
        else if (kind == "cycle") dep = name(i + 1)
        else if (kind == "dense") {
            for (k = 1; k <= 8; k++)
                dep = dep (k > 1 ? ", " : "") name(i + k) " (>= 1.0)"
            dep = dep ", v | " name(i + 1)
            if (i % 2 == 0) prov = "v"
        } else if (kind == "star") {
            if (i % 2 == 0) prov = "v"; else dep = "v"
        }
        printf "Package: %s\nStatus: install ok installed\nPriority: optional\n", name(i)
        printf "Section: misc\nInstalled-Size: 1\nMaintainer: Bench <bench@example.org>\n"
        printf "Architecture: amd64\nVersion: 1.0-1\n"
        if (prov != "") printf "Provides: %s\n", prov
        if (dep != "") printf "Depends: %s\n", dep
        printf "Description: generated package %d\n\n", i
    }
}' > "$admin/status.tmp"
mv "$admin/status.tmp" "$admin/status"
