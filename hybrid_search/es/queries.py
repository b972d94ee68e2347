"""Search request bodies as pure functions (no I/O), so they can be tested without a cluster.

User text only ever goes into `multi_match` (analysed as plain text): never into `query_string`, so
characters like `"` `*` `:` `(` `\\` `/` are not interpreted as query syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_FIELDS = ["url", "repo", "path", "func_name", "docstring", "code", "start_line", "end_line", "partition"]


@dataclass(frozen=True)
class LexicalParams:
    """Field boosts and combination for mode `lexical` (chosen on the valid partition, see `hybrid tune`)."""

    fields: dict[str, float] = field(
        default_factory=lambda: {
            "func_name": 3.0,
            "docstring": 1.0,
            "body": 1.0,
            "path.text": 0.5,
        }
    )
    type: str = "most_fields"
    tie_breaker: float | None = None

    def field_list(self) -> list[str]:
        return [f"{name}^{boost:g}" for name, boost in self.fields.items() if boost > 0]

    @classmethod
    def from_dict(cls, data: dict) -> LexicalParams:
        return cls(
            fields={k: float(v) for k, v in data["fields"].items()},
            type=data.get("type", "most_fields"),
            tie_breaker=data.get("tie_breaker"),
        )

    def to_dict(self) -> dict:
        return {"fields": self.fields, "type": self.type, "tie_breaker": self.tie_breaker}


def baseline_query(text: str) -> dict:
    """CSN's Elasticsearch baseline: BM25 with the standard analyzer on the name split into subtokens and on the code."""
    return {"multi_match": {"query": text, "fields": ["name_subtokens", "code"], "type": "best_fields"}}


def lexical_query(text: str, params: LexicalParams) -> dict:
    """Ours: code-aware analyzers on name, docstring, body (code without docstring) and path, with tuned boosts."""
    clause: dict = {"query": text, "fields": params.field_list(), "type": params.type}
    if params.tie_breaker is not None and params.type == "best_fields":
        clause["tie_breaker"] = params.tie_breaker
    return {"multi_match": clause}


def with_filter(query: dict, filters: list[dict] | None) -> dict:
    """Wrap a scoring query with non-scoring filters (partition, masking for the valid protocol)."""
    if not filters:
        return query
    return {"bool": {"must": [query], "filter": filters}}


def search_body(query: dict, size: int, source: list[str] | bool = True) -> dict:
    return {"query": query, "size": size, "_source": source, "track_total_hits": False}
