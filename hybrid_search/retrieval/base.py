"""The result type shared by all retrieval modes."""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("baseline", "lexical", "dense", "hybrid", "rerank")


@dataclass(frozen=True)
class Hit:
    doc_id: str
    url: str
    score: float
    source: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def func_name(self) -> str:
        return self.source.get("func_name", "")


def hit_from_es(raw: dict) -> Hit:
    source = raw.get("_source") or {}
    return Hit(doc_id=raw["_id"], url=source.get("url", ""), score=float(raw["_score"] or 0.0), source=source)


def plain_text(query: str) -> str:
    """The query as valid Unicode: lone surrogates (undecodable bytes on a command line, `\\ud800` in JSON)
    become U+FFFD instead of failing in the serializer, spaCy or MiniLM."""
    return query.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
