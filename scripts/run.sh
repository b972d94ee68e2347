#!/usr/bin/env bash
# The main job on a fresh machine: environment, local Elasticsearch, index, evaluation table.
# Extra arguments go to `hybrid eval` (e.g. --modes lexical).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HYBRID_ES_HEAP="${HYBRID_ES_HEAP:-1g}"
.venv/bin/hybrid es up
.venv/bin/hybrid index          # skips the work when the live index already holds this corpus
.venv/bin/hybrid eval "$@"
