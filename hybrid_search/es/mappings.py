"""Index settings and mappings, loaded from the JSON files in es_mappings/ (not built in Python)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent.parent / "es_mappings"  # inside an installed wheel
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "es_mappings"  # in a checkout / editable install


def mappings_dir() -> Path:
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE_TREE


@cache
def _load(name: str) -> dict:
    return json.loads((mappings_dir() / f"{name}.json").read_text())


def index_body(name: str = "functions") -> dict:
    """A fresh copy of `es_mappings/<name>.json` (settings + mappings), safe for the caller to modify."""
    return copy.deepcopy(_load(name))
