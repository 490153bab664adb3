#!/usr/bin/env python3
"""N distinct short documents (one or two real sentences each, so about one
passage) from the shared BEIR corpora, as JSON Lines on stdout: the corpus
of bench/scale.sh (issue 25). Real sentences keep the vectors as spread as
real text's; pairs of sentences give as many distinct documents as asked
(145,000 sentences alone, about 10^10 pairs).

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
        # The first len(pool) documents are single sentences, then pairs
        # (i, i * 7919 mod len): distinct, deterministic.
        a = pool[i % len(pool)]
        if i < len(pool):
            text = a
        else:
            b = pool[(i * 7919 + i // len(pool)) % len(pool)]
            text = a + " " + b
        out.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")


if __name__ == "__main__":
    main()
