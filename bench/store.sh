#!/usr/bin/env bash
# Issue 16: the folder index against the Postgres store, same session and
# binary: nDCG@10 per mode on SciFact and Cranfield (test), the time to copy
# each evaluation index into the store, and `bench search` latency on
# SciFact for both. Starts (and leaves running) the test servers of
# tests/postgres/start.sh unless STORE names a store.
#
#   HF_HOME=../shared/hf HF_HUB_OFFLINE=1 bash bench/store.sh [BINARY] > store.txt
set -euo pipefail
BIN=${1:-target/release/semsearch}
DATA=${DATA:-../shared/datasets}
STORE=${STORE:-$(bash tests/postgres/start.sh)}
table() { # DATASET WHERE
  python3 -c '
import json, sys
r = json.load(sys.stdin)
ds, where = sys.argv[1:]
copy = r.get("store_seconds")
for m in r["results"]:
    print("%-9s %-22s %-14s %.4f %.4f %8.1f %s" % (ds, where, m["mode"], m["ndcg@10"],
          m["recall@100"], m["queries_per_second"], "" if copy is None else "copy %.1fs" % copy))
' "$1" "$2"
}
echo "dataset   where                  mode           nDCG@10 R@100    q/s"
for ds in ${DATASETS:-scifact cranfield}; do
  "$BIN" eval "$DATA/$ds" --precision f32 --modes bm25,semantic,hybrid-rrf,hybrid-linear \
    --json -q --no-feedback --no-collapse | table "$ds" "folder, one pass"
  "$BIN" eval "$DATA/$ds" --precision f32 --modes bm25,semantic,hybrid-rrf,hybrid-linear \
    --json -q | table "$ds" "folder, defaults"
  "$BIN" eval "$DATA/$ds" --precision f32 --modes bm25,semantic,hybrid-rrf,hybrid-linear \
    --json -q --store "$STORE" | table "$ds" "store (primary+replica)"
done
# The store now holds Cranfield; SciFact again for the latency runs.
"$BIN" eval "$DATA/scifact" --precision f32 --modes semantic -q --store "$STORE" >/dev/null
index=$(ls -d "${TMPDIR:-/tmp}"/semsearch-eval/scifact-*-f32 | head -1)
echo "bench search, folder $index:"
"$BIN" bench search --index "$index" --queries "$DATA/scifact/queries.jsonl"
echo "bench search, store $STORE:"
"$BIN" bench search --store "$STORE" --queries "$DATA/scifact/queries.jsonl"
