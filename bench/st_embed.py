"""Peer benchmark: sentence-transformers on the same passages, same threads.

Usage: python bench/st_embed.py PASSAGES.jsonl [LIMIT]
Prints passages/s, tokens/s and short-query latency, the numbers that
`semsearch bench` prints, so the two can be run side by side.
"""
import json, os, statistics, sys, time

import torch

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
from sentence_transformers import SentenceTransformer

path = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
texts = [json.loads(l)["text"] for l in open(path)][:limit]
m = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
ntok = sum(len(x) for x in m.tokenizer(texts, truncation=True, max_length=m.max_seq_length)["input_ids"])
with torch.inference_mode():
    m.encode(texts[:32], batch_size=32)
    t = time.perf_counter()
    m.encode(texts, batch_size=32, show_progress_bar=False)
    dt = time.perf_counter() - t
    q = "how to install rust on linux"
    for _ in range(10):
        m.encode([q])
    lat = []
    for _ in range(100):
        t0 = time.perf_counter()
        m.encode([q])
        lat.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({"system": "sentence-transformers", "passages": len(texts), "tokens": ntok,
                  "passages_per_s": len(texts) / dt, "tokens_per_s": ntok / dt,
                  "query_ms_p50": statistics.median(lat)}))
