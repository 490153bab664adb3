#!/usr/bin/env bash
# Issue 25, point 4: a one-shot `search` from start to exit (process start,
# opening the index, loading the model, the query, printing), per mode,
# and `status`. Binaries are interleaved run by run, so a noisy machine
# weighs on each alike; the median and the fastest of RUNS are printed,
# with the largest peak RSS.
#
#   HF_HOME=../shared/hf HF_HUB_OFFLINE=1 RUNS=10 \
#       bash bench/oneshot.sh INDEX BINARY [BINARY...]
set -euo pipefail
IDX=${1:?usage: oneshot.sh INDEX BINARY [BINARY...]}
shift
[ $# -gt 0 ] || { echo "usage: oneshot.sh INDEX BINARY [BINARY...]" >&2; exit 2; }
RUNS=${RUNS:-10}
QUERY=${QUERY:-effects of vitamin d on bone density}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for _ in $(seq "$RUNS"); do
  i=0
  for bin in "$@"; do
    for mode in hybrid semantic lexical; do
      /usr/bin/time -f "%e %M" -a -o "$out/$i-$mode" \
        "$bin" search "$QUERY" --index "$IDX" --mode "$mode" --json > /dev/null
    done
    /usr/bin/time -f "%e %M" -a -o "$out/$i-status" "$bin" status --index "$IDX" > /dev/null
    i=$((i + 1))
  done
done
echo "binary what median_s fastest_s peak_rss_mb"
i=0
for bin in "$@"; do
  for what in hybrid semantic lexical status; do
    sort -n "$out/$i-$what" | awk -v b="$bin" -v w="$what" '
      { s[NR] = $1; if ($2 > m) m = $2 }
      END { printf "%s %s %.2f %.2f %.0f\n", b, w, s[int((NR + 1) / 2)], s[1], m / 1024 }'
  done
  i=$((i + 1))
done
