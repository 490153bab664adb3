#!/usr/bin/env python3
"""Write a BEIR corpus as a folder of text files, COPIES times over, for
indexing benchmarks at several sizes (issue 11: peak memory on SciFact and
on a folder five times larger).

    python bench/make_folder.py ../shared/datasets/scifact/corpus.jsonl.gz /tmp/scifact-x1 1
    python bench/make_folder.py ../shared/datasets/scifact/corpus.jsonl.gz /tmp/scifact-x5 5

Each document becomes COPY/SHARD/ID.txt (the title on the first line, then
the text), 500 files per shard folder as a real collection would be split.
Copies after the first are distinct documents to the indexer (other paths),
with the same text.
"""
import gzip
import json
import os
import sys


def main():
    corpus, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
    opener = gzip.open if corpus.endswith(".gz") else open
    with opener(corpus, "rt", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    for c in range(copies):
        for i, d in enumerate(docs):
            folder = os.path.join(out, f"copy-{c}", f"shard-{i // 500:03d}")
            os.makedirs(folder, exist_ok=True)
            name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in d["_id"])
            with open(os.path.join(folder, name + ".txt"), "w", encoding="utf-8") as f:
                f.write(f"{d.get('title', '')}\n\n{d.get('text', '')}\n")
    print(f"{copies * len(docs)} files in {out}")


if __name__ == "__main__":
    main()
