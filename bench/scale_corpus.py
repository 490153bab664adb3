#!/usr/bin/env python3
"""N distinct short documents (two real sentences each, so about one
passage) from the shared BEIR corpora, as JSON Lines on stdout: the corpus
of bench/scale.sh (issue 25). Real sentences keep the vectors as spread as
real text's; pairs of sentences give as many distinct documents as asked
(145,000 sentences, about 10^10 pairs). Every size is pairs, so documents
are as long at 10,000 as at a million and passages per second compare the
pipeline, not the texts (single sentences first, as before 2026-12-03,
made the 10,000 corpus's documents 163 characters long on average and the
million's 284).

    python3 bench/scale_corpus.py 1000000 [DATASETS_DIR] > corpus.jsonl
"""
import gzip
import json
import os
import re
import sys


def sentences(root):
    seen = set()
    for name in ("scifact", "nfcorpus", "cranfield", "arguana"):
        path = os.path.join(root, name, "corpus.jsonl")
        f = open(path) if os.path.exists(path) else gzip.open(path + ".gz", "rt")
        for line in f:
            for s in re.split(r"(?<=[.!?])\s+", json.loads(line).get("text", "")):
                s = s.strip()
                if len(s) >= 40 and s not in seen:
                    seen.add(s)
                    yield s


def main():
    n = int(sys.argv[1])
    root = sys.argv[2] if len(sys.argv) > 2 else "../shared/datasets"
    pool = list(sentences(root))
    out = sys.stdout
    for i in range(n):
        # Pairs (i, i * 7919 + i / len, mod len): distinct, deterministic.
        a = pool[i % len(pool)]
        b = pool[(i * 7919 + 1 + i // len(pool)) % len(pool)]
        text = a + " " + b
        out.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")


if __name__ == "__main__":
    main()
