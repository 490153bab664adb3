#!/usr/bin/env bash
# The test command (README.md): installs what the tests need, starts
# PostgreSQL + pgvector with a streaming replica for tests/it/postgres.rs (and
# stops them at the end), then runs every test with the shared model cache.
# Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export HF_HOME="${HF_HOME:-../shared/hf}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
if [ "${SEMSEARCH_TEST_POSTGRES:-}" != "skip" ]; then
    urls=$(bash tests/postgres/start.sh)
    trap 'bash tests/postgres/stop.sh' EXIT
    export SEMSEARCH_TEST_POSTGRES="$urls"
fi
cargo test --locked "$@"
