#!/usr/bin/env bash
# Issue 15's ablation: each ranking change alone and together, nDCG@10 and
# Recall@100 on SciFact (train and test) and Cranfield (test), same index
# and session. Queries are embedded once per run; queries/s is eval's
# (k = 100, ranking only).
#
#   HF_HOME=../shared/hf HF_HUB_OFFLINE=1 bash bench/ablation.sh [BINARY] > ablation.txt
set -euo pipefail
BIN=${1:-target/release/semsearch}
DATA=${DATA:-../shared/datasets}
run() { # DATASET SPLIT NAME MODES FLAGS...
  local ds=$1 split=$2 name=$3 modes=$4; shift 4
  "$BIN" eval "$DATA/$ds" --split "$split" --precision f32 --modes "$modes" --json -q "$@" |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
ds, split, name = sys.argv[1:]
for m in r["results"]:
    print("%-9s %-5s %-22s %-14s %.4f %.4f %8.1f" % (ds, split, name, m["mode"],
          m["ndcg@10"], m["recall@100"], m["queries_per_second"]))
' "$ds" "$split" "$name"
}
echo "dataset   split config                 mode           nDCG@10 R@100    q/s"
for set in "scifact train" "scifact test" "cranfield test"; do
  read -r ds split <<<"$set"
  run "$ds" "$split" baseline tfidf,bm25,lsa,semantic,hybrid-rrf,hybrid-linear --no-feedback --no-collapse
  run "$ds" "$split" +collapse bm25,semantic,hybrid-linear --no-feedback
  run "$ds" "$split" +feedback bm25,semantic,hybrid-linear --no-collapse
  run "$ds" "$split" +query-tf bm25,hybrid-linear --no-feedback --no-collapse --query-tf
  run "$ds" "$split" "default (fb+collapse)" tfidf,bm25,lsa,semantic,hybrid-rrf,hybrid-linear
  run "$ds" "$split" "all (+query-tf)" bm25,hybrid-linear --query-tf
done
