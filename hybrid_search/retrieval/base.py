"""The result type shared by all retrieval modes."""

from __future__ import annotations

from dataclasses import dataclass, field

from hybrid_search import HybridError

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


def hits_of(item: dict, index: str) -> list[Hit]:
    """The hits of one `_msearch` response item; its error as one clear line."""
    if "error" in item:
        error = item["error"]
        raise HybridError(
            f"search failed on {index}: {error.get('reason', error) if isinstance(error, dict) else error}"
        )
    return [hit_from_es(h) for h in item["hits"]["hits"]]


def plain_text(query: str) -> str:
    """The query as valid Unicode: lone surrogates (undecodable bytes on a command line, `\\ud800` in JSON)
    become U+FFFD instead of failing in the serializer, spaCy or MiniLM."""
    return query.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
