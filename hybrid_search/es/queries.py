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
    identifier_boost: float = 0.0  # weight of identifier-style query variants on func_name (0: off)
    lemma_boost: float = 0.0  # weight of the lemmatised query on func_name and body (0: off)

    @property
    def uses_variants(self) -> bool:
        return self.identifier_boost > 0 or self.lemma_boost > 0

    def field_list(self) -> list[str]:
        return [f"{name}^{boost:g}" for name, boost in self.fields.items() if boost > 0]

    @classmethod
    def from_dict(cls, data: dict) -> LexicalParams:
        return cls(
            fields={k: float(v) for k, v in data["fields"].items()},
            type=data.get("type", "most_fields"),
            tie_breaker=data.get("tie_breaker"),
            identifier_boost=float(data.get("identifier_boost", 0.0)),
            lemma_boost=float(data.get("lemma_boost", 0.0)),
        )

    def to_dict(self) -> dict:
        return {
            "fields": self.fields,
            "type": self.type,
            "tie_breaker": self.tie_breaker,
            "identifier_boost": self.identifier_boost,
            "lemma_boost": self.lemma_boost,
        }


def baseline_query(text: str) -> dict:
    """CSN's Elasticsearch baseline: BM25 with the standard analyzer on the name split into subtokens and on the code."""
    return {"multi_match": {"query": text, "fields": ["name_subtokens", "code"], "type": "best_fields"}}


def lexical_query(text: str, params: LexicalParams, lemmas: str = "", identifiers: tuple[str, ...] = ()) -> dict:
    """Ours: code-aware analyzers on name, docstring, body (code without docstring) and path, with tuned boosts.

    With query variants (retrieval/query.py), identifier forms (`read_csv`, `readcsv`) are matched as whole
    name tokens and the lemmatised query against name and code, as extra `should` clauses.
    """
    clause: dict = {"query": text, "fields": params.field_list(), "type": params.type}
    if params.tie_breaker is not None and params.type == "best_fields":
        clause["tie_breaker"] = params.tie_breaker
    main = {"multi_match": clause}
    extra: list[dict] = []
    if params.identifier_boost > 0:
        extra += [{"term": {"func_name": {"value": ident, "boost": params.identifier_boost}}} for ident in identifiers]
    if params.lemma_boost > 0 and lemmas:
        extra.append({"multi_match": {"query": lemmas, "fields": ["func_name", "body"], "boost": params.lemma_boost}})
    return {"bool": {"must": [main], "should": extra}} if extra else main


def with_filter(query: dict, filters: list[dict] | None) -> dict:
    """Wrap a scoring query with non-scoring filters (partition, masking for the valid protocol)."""
    if not filters:
        return query
    return {"bool": {"must": [query], "filter": filters}}


def search_body(query: dict, size: int, source: list[str] | bool = True) -> dict:
    return {"query": query, "size": size, "_source": source, "track_total_hits": False}


HIGHLIGHT_FIELDS = ["func_name", "func_name.stem", "docstring", "docstring.code", "code", "path.text"]
# Private-use characters as highlight tags: they do not occur in code and mean nothing to HTML, so the
# caller escapes the text first and turns the spans into marks afterwards.
MARK_START, MARK_END = "\ue000", "\ue001"


def display_body(text: str, doc_ids: list[str], source: list[str]) -> dict:
    """Sources and highlights of documents another query already ranked, whichever mode ranked them.

    The ids filter keeps exactly those documents; the query text, matched on every text field with that
    field's own analyzer (stemming, identifier splitting), only decides what is highlighted. Whole fields
    come back (no fragments), with matches between MARK_START and MARK_END.
    """
    match = {"multi_match": {"query": text, "fields": HIGHLIGHT_FIELDS}}
    return {
        "query": {"bool": {"filter": [{"ids": {"values": doc_ids}}], "should": [match]}},
        "size": len(doc_ids),
        "_source": source,
        "track_total_hits": False,
        "highlight": {
            "pre_tags": [MARK_START],
            "post_tags": [MARK_END],
            "number_of_fragments": 0,
            "fields": {name: {} for name in HIGHLIGHT_FIELDS},
        },
    }
