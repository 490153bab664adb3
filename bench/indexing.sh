#!/usr/bin/env bash
# Indexing at scale (issue 11): peak memory on SciFact as a folder and on a
# folder five times larger, the cost of checkpoints, and a real
# documentation folder (the Rust books as rustup installs them).
#
#   HF_HOME=../shared/hf HF_HUB_OFFLINE=1 bash bench/indexing.sh [BINARY] [OUT_DIR]
#
# MODEL=DIR indexes with another model (bench/slim_model.py makes one with
# the real tokenizer and width at 1% of the embedding cost).
#
# Each run prints one line: what, seconds, peak RSS (MB), documents,
# passages, skipped by reason, bytes per passage.
set -euo pipefail
BIN=${1:-target/release/semsearch}
OUT=${2:-/tmp/semsearch-bench}
DATA=${DATA:-../shared/datasets}
mkdir -p "$OUT"
[ -d "$OUT/scifact-x1" ] || python3 bench/make_folder.py "$DATA/scifact/corpus.jsonl.gz" "$OUT/scifact-x1" 1
[ -d "$OUT/scifact-x5" ] || python3 bench/make_folder.py "$DATA/scifact/corpus.jsonl.gz" "$OUT/scifact-x5" 5
if [ ! -d "$OUT/rustbooks" ]; then
  docs=$(rustc --print sysroot)/share/doc/rust/html
  mkdir -p "$OUT/rustbooks"
  for b in book cargo reference; do cp -r "$docs/$b" "$OUT/rustbooks/"; done
fi

run() { # NAME FOLDER [FLAGS...]
  local name=$1 folder=$2; shift 2
  local idx="$OUT/index-$name"
  rm -rf "$idx"
  /usr/bin/time -v "$BIN" index "$folder" --index "$idx" --json ${MODEL:+--model "$MODEL"} "$@" \
    >"$OUT/$name.json" 2>"$OUT/$name.time"
  local rss secs
  rss=$(awk '/Maximum resident/ {print int($6/1024)}' "$OUT/$name.time")
  secs=$(awk '/Elapsed \(wall/ {print $8}' "$OUT/$name.time")
  local bpp
  bpp=$("$BIN" status --index "$idx" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_per_passage"])')
  python3 - "$name" "$secs" "$rss" "$bpp" "$OUT/$name.json" <<'PY'
import json, sys
name, secs, rss, bpp, report = sys.argv[1:]
r = json.load(open(report))
print(f"{name}: {secs} wall, peak RSS {rss} MB, {r['documents']} documents, "
      f"{r['passages']} passages, {r['checkpoints']} checkpoints, "
      f"skipped {r['skipped_by_reason']}, {bpp} bytes/passage, embed {r['embed_seconds']:.0f} s")
PY
}

case "${3:-all}" in
  memory) run scifact-x1 "$OUT/scifact-x1"; run scifact-x5 "$OUT/scifact-x5" ;;
  memory-x1) run scifact-x1 "$OUT/scifact-x1" ;;
  checkpoints) run x1-no-checkpoints "$OUT/scifact-x1" --checkpoint-secs 1000000
               run x1-checkpoints-1s "$OUT/scifact-x1" --checkpoint-secs 1 ;;
  books) run rustbooks "$OUT/rustbooks" ;;
  books-all-text) run rustbooks-all-text "$OUT/rustbooks" --all-text ;;
  all) "$0" "$BIN" "$OUT" memory; "$0" "$BIN" "$OUT" books; "$0" "$BIN" "$OUT" checkpoints ;;
esac
