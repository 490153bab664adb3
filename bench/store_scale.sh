#!/usr/bin/env bash
# Issue 25: the Postgres store as it grows, beside bench/scale.sh's folder
# index, on the same corpora and slim model (run scale.sh first: it makes
# them in WORK). Per size: `index --jsonl ... --store --rebuild` (wall
# time, passages/s, peak RSS of semsearch; the last commit is where the
# search indexes are built), then `bench search --store` p50 per mode and
# HNSW recall@10.
#
#   STORE=postgres://USER@HOST:PORT/DB PYTHON=/path/to/venv/bin/python \
#       bash bench/store_scale.sh [BINARY] [SIZE...]   # default 10000 100000
#
# The store's contents are replaced. pgvector builds its HNSW graph fast
# only while it fits maintenance_work_mem (a million 384-d vectors: about
# 2 GB); give the server that, or pass it in the URL:
# postgres://...?options=-c%20maintenance_work_mem%3D3GB
set -euo pipefail
BIN=$(realpath "${1:-target/release/semsearch}")
shift || true
SIZES=${*:-10000 100000}
STORE=${STORE:?set STORE to the store URL (its contents are replaced)}
WORK=${WORK:-/tmp/semsearch-scale}
PYTHON=${PYTHON:-python3}
DATA=$(realpath "${DATA:-../shared/datasets}")
field() { grep -E "$1" "$2" | head -1 | awk -F': ' '{print $2}'; }
echo "size passages index_s passages_per_s write_s commit_s peak_rss_mb lexical_p50 semantic_p50 hybrid_p50 recall10"
for n in $SIZES; do
  corpus="$WORK/corpus-$n.jsonl"
  [ -f "$corpus" ] || { echo "no $corpus: run bench/scale.sh first" >&2; exit 2; }
  /usr/bin/time -v "$BIN" index --jsonl "$corpus" --store "$STORE" --model "$WORK/slim" \
    --rebuild -q --json > "$WORK/store-index-$n.json" 2> "$WORK/store-index-$n.time"
  rss=$(field "Maximum resident" "$WORK/store-index-$n.time")
  "$BIN" bench search --store "$STORE" --queries "$DATA/scifact/queries.jsonl" --limit 100 \
    --json > "$WORK/store-bench-$n.json"
  "$PYTHON" - "$n" "$rss" "$WORK/store-index-$n.json" "$WORK/store-bench-$n.json" <<'PY'
import json, sys
n, rss, index, bench = sys.argv[1:]
r = json.load(open(index))
b = json.load(open(bench))
p = r["passages"]
print(n, p, "%.1f" % r["seconds"], "%.0f" % (p / r["seconds"]), "%.1f" % r["write_seconds"],
      "%.1f" % r["commit_seconds"], "%.0f" % (int(rss) / 1024),
      *("%.2f" % b[m]["p50_ms"] for m in ("lexical", "semantic", "hybrid")),
      "%.4f" % b["ann_recall_at_10"])
PY
done
