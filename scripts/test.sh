#!/usr/bin/env bash
# The whole test suite against a real local Elasticsearch (started here if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HYBRID_ES_HEAP="${HYBRID_ES_HEAP:-1g}"
if [ -z "${HYBRID_ES_URL:-}" ]; then .venv/bin/hybrid es up; fi
.venv/bin/python -m pytest "$@"
