"""The request bodies of agent/search.py, built with elasticsearch-dsl as pure functions (no I/O, keyword-only),
as es/queries.py builds the others. The text of a unit only ever goes into `more_like_this`'s `like` (analysed
as plain text, never as query syntax)."""

from __future__ import annotations

from collections.abc import Sequence

from elasticsearch_dsl import Q, Search

from hybrid_search.es.mappings import VECTOR_FIELD
from hybrid_search.es.queries import Source

MAX_UNITS_PER_FILE = 10_000  # Elasticsearch's default result window; no real file has that many units


def units_of_file(path: str, *, source: Source) -> dict:
    """Every unit of one file (its indexed path), to find the one whose lines hold a location."""
    return Search().filter(Q("term", path=path)).extra(size=MAX_UNITS_PER_FILE).source(source).to_dict()


def more_like_search(
    text: str, *, fields: Sequence[str], size: int, source: Source, excluded_ids: Sequence[str] = ()
) -> dict:
    """Units like `text` (a unit's name, docstring and code), those of `excluded_ids` left out."""
    similar = Q(
        "more_like_this",
        fields=list(fields),
        like=[text],
        # A codebase is small: a word seen once, in one other unit, is already evidence.
        min_term_freq=1,
        min_doc_freq=1,
        max_query_terms=40,
    )
    query = Q("bool", must=[similar], must_not=[Q("ids", values=list(excluded_ids))]) if excluded_ids else similar
    return Search().query(query).extra(size=size, track_total_hits=False).source(source).to_dict()


def excluding(body: dict, excluded_ids: Sequence[str]) -> dict:
    """`body` (a search with a `query`) less the documents of `excluded_ids`; the body given is not changed."""
    if not excluded_ids:
        return body
    query = Q("bool", must=[Q(body["query"])], must_not=[Q("ids", values=list(excluded_ids))])
    return {**body, "query": query.to_dict()}


def stored_vector(doc_id: str) -> dict:
    """One unit's vector as indexed: a script reads it from the doc values (the vector is not in `_source`)."""
    script = f"doc['{VECTOR_FIELD}'].size() == 0 ? null : doc['{VECTOR_FIELD}'].vectorValue"
    search = Search().filter(Q("ids", values=[doc_id])).source(False)
    return search.script_fields(vector={"script": {"source": script}}).to_dict()
