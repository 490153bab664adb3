#!/usr/bin/env python3
"""Cut a BERT sentence-transformers model down to one layer with a narrow
feed-forward block, keeping its tokenizer, vocabulary, width and token
limit: passages, vector sizes and index layout stay exactly those of the
real model while embedding costs about 1% of it. For memory and pipeline
benchmarks of indexing (issue 11), never for quality.

    python bench/slim_model.py ../shared/hf/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/*/ /tmp/slim-minilm
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

FFN = 64


def main():
    src, dst = sys.argv[1], sys.argv[2]
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.onnx", "onnx", "openvino"))
    for root, dirs, files in os.walk(dst):
        for f in dirs + files:
            os.chmod(os.path.join(root, f), 0o755)
    raw = open(os.path.join(src, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out, chunks, offset = {}, [], 0
    for name, meta in header.items():
        if name == "__metadata__" or ("encoder.layer." in name and ".layer.0." not in name and not name.split("encoder.layer.")[1].startswith("0.")):
            continue
        s, e = meta["data_offsets"]
        if meta["dtype"] != "F32":
            out[name] = {"dtype": meta["dtype"], "shape": meta["shape"], "data_offsets": [offset, offset + e - s]}
            chunks.append(data[s:e])
            offset += e - s
            continue
        t = np.frombuffer(data[s:e], dtype="<f4").reshape(meta["shape"])
        if "intermediate.dense.weight" in name:
            t = t[:FFN, :]
        elif "intermediate.dense.bias" in name:
            t = t[:FFN]
        elif "output.dense.weight" in name and "attention" not in name:
            t = t[:, :FFN]
        b = np.ascontiguousarray(t, dtype="<f4").tobytes()
        out[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(out).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    cfg_path = os.path.join(dst, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["num_hidden_layers"] = 1
    cfg["intermediate_size"] = FFN
    json.dump(cfg, open(cfg_path, "w"), indent=2)
    print(f"{dst}: 1 layer, FFN {FFN}, {offset / 1e6:.1f} MB of weights")


if __name__ == "__main__":
    main()
