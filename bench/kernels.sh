#!/usr/bin/env bash
# Embedding speed of every kernel path this CPU runs against
# sentence-transformers in its best configurations on the same CPU, side by
# side, A B A B (issue 23). Prints one line per run, then the ratios of the
# best run of each semsearch path to torch's, and `lscpu`'s model and flags.
#
#   HF_HOME=../shared/hf HF_HUB_OFFLINE=1 PYTHON=/path/to/venv/bin/python \
#       bash bench/kernels.sh [BINARY] [PASSAGES] [ROUNDS]
#
# PYTHON is an interpreter with torch and sentence-transformers
# (`pip install torch sentence-transformers`). torch runs in f32, in bf16
# (`model.to(torch.bfloat16)`, oneDNN's AMX / AVX-512 BF16 kernels) where
# the CPU has bf16, and held to AVX2 (ATEN_CPU_CAPABILITY=avx2,
# MKL_ENABLE_INSTRUCTIONS=AVX2, ONEDNN_MAX_CPU_ISA=AVX2), the peer of our
# AVX2 path on a machine that has more. PATHS overrides the semsearch paths
# ("kernels:precision ..."); `avx2-plain` is the AVX2 family held to plain
# AVX2 int8 (`SEMSEARCH_NO_VNNI=1`), as on a CPU without AVX-VNNI.
set -euo pipefail
BIN=${1:-target/release/semsearch}
PASSAGES=${2:-../shared/reference/passages-2000.jsonl}
ROUNDS=${3:-2}
LIMIT=${LIMIT:-600}
PYTHON=${PYTHON:-python3}
THREADS=$(nproc)
export THREADS

runs=$(SEMSEARCH_INDEX=/nonexistent "$BIN" bench embed --input "$PASSAGES" --limit 1 --runs 1 --queries 1 --json | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["cpu"]["runs"]))')
if [ -z "${PATHS:-}" ]; then
  PATHS=""
  for k in $runs; do
    case $k in
      portable) PATHS+=" portable:f32" ;;
      avx2) PATHS+=" avx2:f32 avx2-plain:int8"; grep -q -m1 avx_vnni /proc/cpuinfo && PATHS+=" avx2:int8" ;;
      avx512) PATHS+=" avx512:f32 avx512:bf16 avx512:int8" ;;
      amx) PATHS+=" amx:bf16 amx:int8" ;;
    esac
  done
fi
has_bf16=$(grep -c -m1 -E 'avx512_bf16|amx_bf16' /proc/cpuinfo || true)

results=$(mktemp)
ours() { # KERNELS[-plain] PRECISION
  local plain=()
  [ "${1%-plain}" != "$1" ] && plain=(SEMSEARCH_NO_VNNI=1)
  env "${plain[@]}" SEMSEARCH_KERNELS="${1%-plain}" "$BIN" bench embed --input "$PASSAGES" --limit "$LIMIT" \
    --precision "$2" --runs 1 --queries 100 --json \
    | python3 -c "import json,sys; r=json.load(sys.stdin); print('semsearch $1 $2', round(r['run_seconds'][0],2), round(r['passages_per_s'],1), round(r['query_ms_p50'],2))"
}
torch() { # NAME [ENV...]
  local name=$1; shift
  env "$@" "$PYTHON" bench/st_embed.py "$PASSAGES" "$LIMIT" 2>/dev/null | tail -1 \
    | python3 -c "import json,sys; r=json.load(sys.stdin); print('torch $name', round(r['passages']/r['passages_per_s'],2), round(r['passages_per_s'],1), round(r['query_ms_p50'],2))"
}
for round in $(seq "$ROUNDS"); do
  for p in $PATHS; do
    ours "${p%%:*}" "${p##*:}" | tee -a "$results"
  done
  torch f32 DTYPE=f32 | tee -a "$results"
  if [ "$has_bf16" -gt 0 ]; then
    torch bf16 DTYPE=bf16 | tee -a "$results"
  fi
  torch f32-avx2 DTYPE=f32 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 | tee -a "$results"
done

echo
echo "best of $ROUNDS rounds, $LIMIT passages, $THREADS threads (seconds, passages/s, short-query p50 ms; ratio = torch seconds / ours):"
python3 - "$results" <<'EOF'
import sys
best = {}
for line in open(sys.argv[1]):
    *name, secs, pps, q = line.split()
    key = " ".join(name)
    if key not in best or float(secs) < best[key][0]:
        best[key] = (float(secs), float(pps), float(q))
peers = {k: v for k, v in best.items() if k.startswith("torch")}
for k, (s, p, q) in best.items():
    ratios = ", ".join(f"{s2 / s:.2f}x {k2}" for k2, (s2, _, _) in peers.items()) if not k.startswith("torch") else ""
    print(f"  {k:<22} {s:7.2f} s {p:7.1f}/s  query {q:5.2f} ms  {ratios}")
EOF
echo
lscpu | grep -E '^(Model name|Flags)' | sed 's/^/  /'
rm -f "$results"
