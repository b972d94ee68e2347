#!/usr/bin/env bash
# The main job on a fresh machine: environment, local Elasticsearch, encoder, index, evaluation table.
# Extra arguments go to `hybrid eval` (e.g. --modes lexical,hybrid).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
ENCODER="${HYBRID_ENCODER:-nbow}"
.venv/bin/hybrid es up
# The first-stage encoder (chosen on the valid partition, docs/encoder.md); trained once, ~10 min on 2 cores.
# `hybrid train` finalises a model folder last (after the valid evaluation): it skips a finished training
# with the same settings and resumes an interrupted one.
.venv/bin/hybrid train --encoder "$ENCODER" --epochs 8
# The re-ranker: all-MiniLM-L6-v2 fine-tuned on 2,000 pairs (~4 min on 2 cores), as <models>/minilm-ft.
.venv/bin/hybrid train --encoder minilm --max-pairs 2000 --epochs 1 --batch-size 32 --lr 2e-5
.venv/bin/hybrid index --encoder "$ENCODER"   # skips the work when the live index already holds this corpus + model
.venv/bin/hybrid eval "$@"
