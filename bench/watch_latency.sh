#!/usr/bin/env bash
# Watch mode latency (issue 11): seconds from a file's save to the moment a
# search finds it, with `semsearch watch` following a folder of N notes.
#
#   HF_HOME=../shared/hf HF_HUB_OFFLINE=1 bash bench/watch_latency.sh [BINARY] [N] [ROUNDS]
set -euo pipefail
BIN=$(realpath "${1:-target/release/semsearch}")
N=${2:-1000}
ROUNDS=${3:-5}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
mkdir -p "$dir/notes"
for i in $(seq 1 "$N"); do echo "note $i about nothing in particular" > "$dir/notes/n$i.txt"; done
"$BIN" watch "$dir/notes" ${MODEL:+--model "$MODEL"} --quiet 2>"$dir/err" &
pid=$!
until [ -f "$dir/notes/.semsearch/manifest.json" ] && "$BIN" status --index "$dir/notes/.semsearch" --json 2>/dev/null | grep -q "\"documents\":$N"; do sleep 0.2; done
sleep 1
for r in $(seq 1 "$ROUNDS"); do
  word="zebra$r$RANDOM"
  start=$(date +%s.%N)
  echo "a new note about $word" > "$dir/notes/new-$r.txt"
  until "$BIN" search "$word" --mode lexical --json --index "$dir/notes/.semsearch" 2>/dev/null | grep -q "new-$r.txt"; do sleep 0.05; done
  end=$(date +%s.%N)
  echo "round $r: searchable after $(echo "$end - $start" | bc) s"
  sleep 1
done
