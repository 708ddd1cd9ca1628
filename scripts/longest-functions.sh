#!/usr/bin/env bash
# scripts/longest-functions.sh [MAX] [FILES...]
#
# The longest C functions (lines from the signature's first line to the
# closing brace, kernel style: the body opens with "{" and closes with "}" at
# column 0), longest first, top ten. Default files: cli/*.c. With MAX, exits 1
# when any function is longer (issue 7: no function in cli/ over 120 lines).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
max=${1:-0}
shift || true
[ $# -gt 0 ] || set -- cli/*.c
awk '
FNR == 1 { sig = 0; inside = 0 }
/^[A-Za-z_].*\(/ && !/;[[:space:]]*$/ && !inside { sig = FNR; name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name) }
/^\{/ && sig && !inside { inside = 1 }
/^\}/ && inside { printf "%5d %s:%d %s\n", FNR - sig + 1, FILENAME, sig, name; inside = 0; sig = 0 }
' "$@" | sort -rn | head -n 10 | tee /dev/stderr | awk -v max="$max" 'max > 0 && $1 > max { bad = 1 } END { exit bad }'
