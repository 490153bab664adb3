"""Peer benchmark: sentence-transformers on the same passages, same threads.

Usage: [DTYPE=f32|bf16] python bench/st_embed.py PASSAGES.jsonl [LIMIT]
Prints passages/s, tokens/s and short-query latency, the numbers that
`semsearch bench` prints, so the two can be run side by side. DTYPE=bf16
runs the model in bfloat16 (`model.to(torch.bfloat16)`: oneDNN's AMX or
AVX-512 BF16 kernels where the CPU has them), sentence-transformers'
fastest CPU configuration on such CPUs.
"""
import json, os, statistics, sys, time

import torch

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
from sentence_transformers import SentenceTransformer

path = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
texts = [json.loads(l)["text"] for l in open(path)][:limit]
m = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
dtype = os.environ.get("DTYPE", "f32")
if dtype == "bf16":
    m = m.to(torch.bfloat16)
else:
    # f32 even from a checkpoint stored in f16 (transformers 5 keeps a
    # file's own dtype), so every run computes in the precision it names.
    m = m.float()
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
print(json.dumps({"system": "sentence-transformers", "dtype": dtype, "passages": len(texts), "tokens": ntok,
                  "passages_per_s": len(texts) / dt, "tokens_per_s": ntok / dt,
                  "query_ms_p50": statistics.median(lat)}))
