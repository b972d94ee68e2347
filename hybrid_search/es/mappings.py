"""Index settings and mappings, loaded from the JSON files in es_mappings/ (not built in Python)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
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


VECTOR_FIELD = "embedding"


@dataclass(frozen=True)
class Vectors:
    """The vectors a version holds: their size and the encoder that makes them (its name, its folder)."""

    dims: int
    encoder: str
    encoder_path: str = ""


def version_body(*, vectors: Vectors | None = None, layout=None, source_fields: bool = False) -> dict:
    """Settings and mappings of a new version, built from plain values into a fresh dict: es_mappings, plus
    the vector field (`vectors`), a source folder's fields (`source_fields`) and shards, replicas and search
    type (`layout`, an `es.layout.IndexLayout`; default: es_mappings' own)."""
    from hybrid_search.es.layout import apply_layout

    body = index_body()
    if vectors is not None:
        body = with_vectors(body, vectors.dims, vectors.encoder, vectors.encoder_path)
    if source_fields:
        body = with_source_fields(body)
    return apply_layout(body, layout) if layout is not None else body


def with_vectors(body: dict, dims: int, encoder: str, encoder_path: str = "") -> dict:
    """Add the `embedding` dense_vector field (es_mappings/dense_vector.json, HNSW) sized for an encoder.

    Vectors are left out of `_source`: they are large and never shown; the index knows its encoder by
    `_meta.encoder`.
    """
    body = copy.deepcopy(body)
    field = {**_load("dense_vector"), "dims": dims}
    body["mappings"]["properties"][VECTOR_FIELD] = field
    body["mappings"]["_source"]["excludes"] = [*body["mappings"]["_source"].get("excludes", []), VECTOR_FIELD]
    body["mappings"]["_meta"] = {
        **body["mappings"].get("_meta", {}),
        "encoder": encoder,
        "encoder_path": encoder_path,
        "dims": dims,
    }
    return body


def with_source_fields(body: dict) -> dict:
    """Add the fields of an index of a source folder (es_mappings/source_fields.json): `fn_sha`, the hash of
    each unit's document, which tells an incremental `hybrid index --source` what changed, and what the
    ranking of a codebase reads (retrieval/codebase.py), with the analyzer of path-word prefixes."""
    body = copy.deepcopy(body)
    extra = copy.deepcopy(_load("source_fields"))
    analysis = body["settings"].setdefault("analysis", {})
    for section, entries in extra["analysis"].items():
        analysis.setdefault(section, {}).update(entries)
    body["mappings"]["properties"].update(extra["properties"])
    return body
