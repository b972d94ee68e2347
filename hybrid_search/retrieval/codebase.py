"""Ranking the units of a codebase (an index built by `hybrid index --source`), in every mode.

CodeSearchNet's queries ask for one function among many repositories; a question about one codebase asks
where something lives in it. So on a codebase index:

- in Elasticsearch (es/queries.py): the text query also reads the file's path words (`cookies.py` answers
  "cookie storage"); a query that is an identifier (`HTTPAdapter`, `field_validator`) sends its
  definitions first; tests, examples, compatibility and vendored code, re-export `__init__` files and
  private modules are weighted down by role (data/roles.py); the dense half scores every unit exactly, under
  the same weights; ties are broken by path and line, so a rebuild ranks the same;
- here, over the candidates ES returned (`arrange`): file-level evidence (a file with several strong
  units lifts its best one) and diversity across files (each further unit of a file already shown counts
  less), so that the first page shows the files that matter instead of ten units of one file.

The parameters were chosen on ../shared/semble-dev (docs/codebase.md), never per repository; there lexical
ranks best, so it is a codebase's default mode (retrieval/modes.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import ClassVar

from hybrid_search.es.queries import Source, codebase_search
from hybrid_search.retrieval.base import Hit, OneAtATime, Ranking, Timer, plain_text
from hybrid_search.retrieval.params import Params, boosted_fields, float_values

KIND = "source"  # `_meta.build.kind` of an index made from a folder (pipeline/source.py)

# An identifier on its own: dotted (`Session.send`), with an underscore or a capital (`field_validator`,
# `HTTPAdapter`, `URL`); a lowercase word alone ("session") is read as a word, not as a symbol.
_SYMBOL = re.compile(r"^(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|_\w*|[A-Za-z]\w*[A-Z_]\w*|[A-Z]\w*)$")


def is_codebase(meta: dict) -> bool:
    return meta.get("build", {}).get("kind") == KIND


def symbol_of(text: str) -> str:
    """The identifier a query names, or "" when it is a question in words."""
    text = text.strip()
    return text if _SYMBOL.match(text) else ""


@dataclass(frozen=True)
class CodebaseParams(Params):
    """How a codebase's units are ranked (every mode), chosen on semble-dev (docs/tuning/codebase.json)."""

    mode: ClassVar[str] = "codebase"
    fields: dict[str, float] = field(
        default_factory=lambda: {
            "func_name": 1.0,
            "docstring": 1.0,
            "body.stem": 1.0,
            "file_words": 1.0,
            "file_words.prefix": 1.0,  # shared prefixes of 4+ letters: `config.py` for "configuration"
        }
    )
    type: str = "most_fields"
    symbol_boost: float = 30.0  # added to a unit that defines the queried identifier
    role_weights: dict[str, float] = field(
        default_factory=lambda: {
            "test": 0.3,
            "example": 0.3,
            "compat": 0.3,
            "vendored": 0.3,
            "reexport": 0.5,
            "private": 0.5,
        }
    )
    coherence: float = 0.2  # a file's best unit gains this share of the top score, times the file's evidence
    same_file_decay: float = 0.5  # each further unit of a file already ranked counts this much less
    depth: int = 100  # candidates arranged
    fusion_weights: tuple[float, float] = (0.7, 0.3)  # (lexical, dense) of mode hybrid on a codebase (z-scores)

    def field_list(self) -> list[str]:
        return boosted_fields(self.fields)

    @classmethod
    def _convert(cls, data: dict) -> dict:
        for key in ("fields", "role_weights"):
            if key in data:
                data[key] = float_values(data[key])
        if "fusion_weights" in data:
            data["fusion_weights"] = tuple(float(w) for w in data["fusion_weights"])
        return data

    def check(self) -> None:
        if not 0 < self.same_file_decay <= 1 or self.coherence < 0 or self.depth < 1:
            raise ValueError("same_file_decay must be in (0, 1], coherence >= 0 and depth >= 1")


# Words that ask rather than name: left out of the text query, since code and comments are full of them.
_QUESTION_WORDS = (
    "a an and are as at be by can do does for from has have how i if in into is it its of on or the to was "
    "what when where which who why with"
)
STOPWORDS = frozenset(_QUESTION_WORDS.split())


def content_words(text: str) -> str:
    return " ".join(word for word in plain_text(text).split() if word.lower() not in STOPWORDS)


def codebase_body(text: str, params: CodebaseParams, *, k: int, source: Source, filters=None) -> dict:
    """The Elasticsearch half of a codebase's ranking (es/queries.py `codebase_search`)."""
    return codebase_search(
        content_words(text) or plain_text(text),
        fields=params.field_list(),
        type=params.type,
        symbol=symbol_of(text),
        symbol_boost=params.symbol_boost,
        role_weights=params.role_weights,
        size=k,
        source=source,
        filters=filters,
    )


def _order(hit: Hit, score: float) -> tuple:
    """Score first, then a stable key: the same candidates always come out in the same order."""
    return (-score, hit.source.get("path", ""), hit.source.get("start_line", 0), hit.doc_id)


def arrange(hits: list[Hit], params: CodebaseParams, k: int) -> list[Hit]:
    """The k best units after file-level evidence and diversity across files (see the module docstring)."""
    if not hits:
        return []
    scores = {hit.doc_id: hit.score for hit in hits}
    top = max(scores.values())
    if params.coherence > 0 and top > 0:
        by_file: dict[str, list[Hit]] = {}
        for hit in hits:
            by_file.setdefault(hit.source.get("path", ""), []).append(hit)
        evidence = {path: sum(max(h.score, 0.0) for h in group) for path, group in by_file.items()}
        strongest = max(evidence.values()) or 1.0
        for path, group in by_file.items():
            best = min(group, key=lambda h: _order(h, h.score))
            scores[best.doc_id] += params.coherence * top * evidence[path] / strongest
    ranked = sorted(hits, key=lambda h: _order(h, scores[h.doc_id]))
    shown: dict[str, int] = {}
    effective = {}
    for hit in ranked:  # greedy: a unit's discount depends on how many of its file rank above it
        path = hit.source.get("path", "")
        effective[hit.doc_id] = scores[hit.doc_id] * params.same_file_decay ** shown.get(path, 0)
        shown[path] = shown.get(path, 0) + 1
    final = sorted(ranked, key=lambda h: _order(h, effective[h.doc_id]))[:k]
    return [replace(hit, score=effective[hit.doc_id]) for hit in final]


class CodebaseRanked(OneAtATime):
    """Any mode over a codebase index: its candidates (`params.depth` of them) arranged by `arrange`."""

    def __init__(self, inner, params: CodebaseParams):
        self.inner, self.params = inner, params
        self.mode, self.index = inner.mode, inner.index

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        with Timer() as timer:
            ranking = self.inner.search(text, k=max(k, self.params.depth), filters=filters)
            hits = arrange(ranking.hits, self.params, k)
        stages = {**ranking.stages, "candidates": ranking.hits}
        return Ranking(hits, es_ms=ranking.es_ms, wall_ms=timer.ms, stages=stages)

    def reproducible(self):
        return CodebaseRanked(self.inner.reproducible(), self.params)

    def __getattr__(self, name):  # encoder, params, client ... of the mode underneath
        return getattr(self.inner, name)

    def describe(self) -> dict:
        return {**self.inner.describe(), "codebase": self.params.to_dict()}
