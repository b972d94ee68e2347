"""The retriever contract shared by every mode: a query text in, a `Ranking` of `Hit`s out."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self, runtime_checkable

from elasticsearch import Elasticsearch

from hybrid_search import HybridError
from hybrid_search.config import Paths
from hybrid_search.es.queries import Source
from hybrid_search.retrieval.modes import MODES  # noqa: F401  (re-exported: the CLI and the page list them)
from hybrid_search.retrieval.tuned import Choice, choice_for_index


@dataclass(frozen=True)
class Hit:
    doc_id: str
    url: str
    score: float
    source: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def func_name(self) -> str:
        return self.source.get("func_name", "")


@dataclass(frozen=True)
class Ranking:
    """One query's ranked hits, with where the time went."""

    hits: list[Hit]
    es_ms: float = 0.0  # Elasticsearch's own `took`, summed over the requests made
    wall_ms: float = 0.0  # client wall time of the whole search (encoding, requests, fusion, re-ranking)
    # The candidate lists of the stages before the final one, by name (hybrid: lexical, dense, fused;
    # rerank adds its re-ranked head), so that `hybrid eval` can say at which stage relevant functions are lost.
    stages: dict[str, list[Hit]] = field(default_factory=dict, compare=False, repr=False)


@runtime_checkable
class Retriever(Protocol):
    """What every mode offers (lexical.py, dense.py, hybrid.py, rerank.py)."""

    mode: str

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking: ...

    def search_many(
        self, texts: Sequence[str], *, k: int = 100, filters: Sequence[list[dict] | None] | None = None
    ) -> list[Ranking]: ...

    def describe(self) -> dict: ...

    @classmethod
    def available(cls, index: str, *, paths: Paths) -> bool: ...

    def reproducible(self) -> Retriever: ...

    ranks_codebases: bool


class ModeDefaults:
    """The contract's defaults for a mode that needs nothing beyond its index and ranks the same every time."""

    ranks_codebases = True  # on a codebase index its candidates are arranged as retrieval/codebase.py says

    @classmethod
    def available(cls, index: str, *, paths: Paths) -> bool:
        return True

    def reproducible(self):
        return self


@dataclass(frozen=True)
class OpenedIndex:
    """An index as every mode's `from_index` opens it: the client, its `_meta`, the tool's folders, the
    `_source` fields hits carry, and `choices_for`: the alias whose tuned choices apply (an evaluation
    index searched as that alias would be), else the index's own."""

    client: Elasticsearch
    index: str
    meta: dict
    paths: Paths
    source: Source = True
    choices_for: str | None = None

    def choice(self, mode: str) -> Choice:
        """The choice `mode` runs with here (tuned, else the defaults), refused if made for other vectors."""
        return choice_for_index(self.paths.tuned, self.index, mode, self.meta, self.choices_for)


class Timer:
    """Wall time of a block in milliseconds: `with Timer() as t: ...; t.ms`."""

    def __enter__(self) -> Self:
        self.started, self.ms = time.perf_counter(), 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.ms = (time.perf_counter() - self.started) * 1000


class OneAtATime(ModeDefaults):
    """`search_many` as a loop over `search`, for modes with no cheaper batch path."""

    def search_many(
        self, texts: Sequence[str], *, k: int = 100, filters: Sequence[list[dict] | None] | None = None
    ) -> list[Ranking]:
        filters = filters or [None] * len(texts)
        return [self.search(text, k=k, filters=extra) for text, extra in zip(texts, filters)]


def hit_from_es(raw: dict) -> Hit:
    source = raw.get("_source") or {}
    return Hit(doc_id=raw["_id"], url=source.get("url", ""), score=float(raw["_score"] or 0.0), source=source)


def hits_of(item: dict, index: str) -> list[Hit]:
    """The hits of one search or `_msearch` response item; its error as one clear line."""
    if "error" in item:
        error = item["error"]
        raise HybridError(
            f"search failed on {index}: {error.get('reason', error) if isinstance(error, dict) else error}"
        )
    return [hit_from_es(h) for h in item["hits"]["hits"]]


MAX_QUERY_CHARS = 1000  # a query longer than this is refused by the page and the agent tools alike


def visible_query(text: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """The query with control characters (NUL, escapes) as spaces; refused in one line when nothing visible is
    left (only spaces and invisible format marks) or when it is longer than `max_chars`."""
    query = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).strip()
    if not any(unicodedata.category(ch)[0] not in "CZ" for ch in query):
        raise HybridError("the query is empty")
    if len(query) > max_chars:
        raise HybridError(f"the query is {len(query)} characters long; at most {max_chars} are allowed")
    return query


def plain_text(query: str) -> str:
    """The query as valid Unicode: lone surrogates (undecodable bytes on a command line, `\\ud800` in JSON)
    become U+FFFD instead of failing in the serializer, spaCy or MiniLM."""
    return query.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
