#!/usr/bin/env bash
# The test command (README.md): installs what the tests need, then runs
# every test with the shared model cache. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export HF_HOME="${HF_HOME:-../shared/hf}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec cargo test --locked "$@"
