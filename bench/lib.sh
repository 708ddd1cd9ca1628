# bench/lib.sh - side-by-side timing for the benchmark scripts (sourced).
#
# bench_pair NAME_A CMD_A NAME_B CMD_B RUNS: runs A and B alternately (A B A B ...)
# after one warm-up each, records wall seconds and peak RSS (GNU time's %M,
# the largest process of the pipeline) per run, and prints the medians and the
# median of the per-pair ratios A/B, which holds when the machine's speed drifts.
set -euo pipefail

command -v /usr/bin/time >/dev/null || { echo "bench: GNU time is needed (apt-get install time)" >&2; exit 1; }

bench_one() { # CMD -> "wall maxrss_kib"; a failing command stops the benchmark
    local out
    out=$(/usr/bin/time -f '%e %M %x' bash -o pipefail -c "$1" 2>&1 >/dev/null | tail -n 1)
    set -- $out
    if [ "${3:-1}" != 0 ]; then
        echo "bench: this command failed (exit ${3:-?}), its time would mean nothing: $CMD_FOR_ERR" >&2
        exit 1
    fi
    echo "$1 $2"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

bench_pair() {
    local na=$1 ca=$2 nb=$3 cb=$4 runs=${5:-3} i a b
    local wa=() wb=() ma=() mb=() ratio=()
    CMD_FOR_ERR=$ca bench_one "$ca" >/dev/null
    CMD_FOR_ERR=$cb bench_one "$cb" >/dev/null
    for ((i = 0; i < runs; i++)); do
        read -r a_w a_m < <(CMD_FOR_ERR=$ca bench_one "$ca") || exit 1
        read -r b_w b_m < <(CMD_FOR_ERR=$cb bench_one "$cb") || exit 1
        wa+=("$a_w"); ma+=("$a_m"); wb+=("$b_w"); mb+=("$b_m")
        ratio+=("$(awk -v x="$a_w" -v y="$b_w" 'BEGIN { printf "%.3f", (y > 0 ? x / y : 0) }')")
    done
    printf '%-34s wall %7.2f s  peak RSS %8d KiB\n' "$na" \
        "$(printf '%s\n' "${wa[@]}" | median)" "$(printf '%s\n' "${ma[@]}" | median | cut -d. -f1)"
    printf '%-34s wall %7.2f s  peak RSS %8d KiB\n' "$nb" \
        "$(printf '%s\n' "${wb[@]}" | median)" "$(printf '%s\n' "${mb[@]}" | median | cut -d. -f1)"
    printf '%-34s %s (median of %d pairs; <1 means %s is faster)\n\n' "ratio wall $na/$nb" \
        "$(printf '%s\n' "${ratio[@]}" | median)" "$runs" "$na"
}
