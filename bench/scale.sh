#!/usr/bin/env bash
# Issue 25: what the index costs as it grows, with the slim model of
# bench/slim_model.py (so the pipeline, not the embedding, is measured) on
# bench/scale_corpus.py's distinct short documents. Per size: index time
# and passages/s, peak RSS, bytes on disk per passage and generations
# left, a one-shot `search` and `status` (time and RSS), adding one
# document, `bench search` p50 per mode and HNSW recall@10.
#
#   HF_HOME=../shared/hf HF_HUB_OFFLINE=1 PYTHON=/path/to/venv/bin/python \
#       bash bench/scale.sh [BINARY] [SIZE...]      # default 10000 100000 1000000
#
# PYTHON needs numpy (for the slim model). WORK (default /tmp/semsearch-scale)
# holds the model, corpora and indexes. QUANTIZE=i8 (or f32) indexes with
# `--quantize` (indexes named index-SIZE-i8).
set -euo pipefail
BIN=$(realpath "${1:-target/release/semsearch}")
shift || true
SIZES=${*:-10000 100000 1000000}
WORK=${WORK:-/tmp/semsearch-scale}
PYTHON=${PYTHON:-python3}
DATA=$(realpath "${DATA:-../shared/datasets}")
mkdir -p "$WORK"
if [ ! -d "$WORK/slim" ]; then
  "$PYTHON" bench/slim_model.py "${HF_HOME:-../shared/hf}"/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/*/ "$WORK/slim" >&2
fi
field() { grep -E "$1" "$2" | head -1 | awk -F': ' '{print $2}'; }
echo "size passages index_s passages_per_s peak_rss_mb bytes_per_passage generations search_s search_rss_mb status_s add_one_s lexical_p50 semantic_p50 hybrid_p50 lsa_p50 recall10"
for n in $SIZES; do
  corpus="$WORK/corpus-$n.jsonl"
  [ -f "$corpus" ] || "$PYTHON" bench/scale_corpus.py "$n" "$DATA" > "$corpus"
  tag="$n${QUANTIZE:+-$QUANTIZE}"
  idx="$WORK/index-$tag"
  rm -rf "$idx"
  /usr/bin/time -v "$BIN" index --jsonl "$corpus" --index "$idx" --model "$WORK/slim" \
    ${QUANTIZE:+--quantize "$QUANTIZE"} -q 2> "$WORK/index-$tag.time"
  secs=$(field "Elapsed \(wall clock\)" "$WORK/index-$tag.time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(field "Maximum resident" "$WORK/index-$tag.time")
  passages=$("$BIN" status --index "$idx" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["passages"])')
  bytes=$(du -sb "$idx" | cut -f1)
  gens=$(ls -d "$idx"/gen-* | wc -l)
  /usr/bin/time -v "$BIN" search "effects of vitamin d on bone density" --index "$idx" --json > /dev/null 2> "$WORK/search-$tag.time"
  s_secs=$(field "Elapsed \(wall clock\)" "$WORK/search-$tag.time" | awk -F: '{print $NF + 60*$(NF-1)}')
  s_rss=$(field "Maximum resident" "$WORK/search-$tag.time")
  st0=$(date +%s.%N); "$BIN" status --index "$idx" > /dev/null; st1=$(date +%s.%N)
  echo '{"_id": "added-one", "title": "", "text": "A document added after the rest, to time a one-document update."}' >> "$corpus"
  a0=$(date +%s.%N); "$BIN" index --jsonl "$corpus" --index "$idx" --model "$WORK/slim" -q; a1=$(date +%s.%N)
  sed -i '$ d' "$corpus"
  "$BIN" bench search --index "$idx" --queries "$DATA/scifact/queries.jsonl" --limit 100 --json > "$WORK/bench-$tag.json"
  "$PYTHON" - "$n" "$passages" "$secs" "$rss" "$bytes" "$gens" "$s_secs" "$s_rss" "$st0" "$st1" "$a0" "$a1" "$WORK/bench-$tag.json" <<'PY'
import json, sys
n, p, secs, rss, bytes_, gens, s_secs, s_rss, st0, st1, a0, a1, bench = sys.argv[1:]
b = json.load(open(bench))
p = int(p)
print(n, p, "%.1f" % float(secs), "%.0f" % (p / float(secs)), "%.0f" % (int(rss) / 1024),
      "%.0f" % (int(bytes_) / p), gens, "%.2f" % float(s_secs), "%.0f" % (int(s_rss) / 1024),
      "%.2f" % (float(st1) - float(st0)), "%.2f" % (float(a1) - float(a0)),
      *("%.2f" % b[m]["p50_ms"] for m in ("lexical", "semantic", "hybrid", "lsa")),
      "%.4f" % b["ann_recall_at_10"])
PY
done
