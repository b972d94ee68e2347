"""Every search request body, built with elasticsearch-dsl as pure functions (no I/O, keyword-only).

User text only ever goes into `multi_match` (analysed as plain text): never into `query_string`, so
characters like `"` `*` `:` `(` `\\` `/` are not interpreted as query syntax.
"""

from __future__ import annotations

from collections.abc import Sequence

from elasticsearch_dsl import Q, Search

from hybrid_search.es.mappings import VECTOR_FIELD

SOURCE_FIELDS = ["url", "repo", "path", "func_name", "docstring", "code", "start_line", "end_line", "partition"]
Source = list[str] | bool
# A shard none of whose copies answered makes the search fail (503, which the client retries on another
# node) instead of returning a silently shorter ranking: ES's default would allow partial results.
SEARCH_OPTIONS = {"allow_partial_search_results": False}

# Ties broken by a stable key, so that rebuilding the same folder ranks the same (Lucene's own tie-break is
# its internal document order, which depends on how the bulk writes interleaved).
STABLE_ORDER = [{"_score": "desc"}, {"path": "asc"}, {"start_line": "asc"}]


def _search(query, *, size: int, source: Source, filters: Sequence[dict] | None, stable: bool = False) -> dict:
    """A scoring query, wrapped with non-scoring filters when there are any. `stable`: ties broken by path and
    line (`STABLE_ORDER`), as every search of a codebase is."""
    if filters:
        query = Q("bool", must=[query], filter=list(filters))
    search = Search().query(query).extra(size=size, track_total_hits=False).source(source)
    return search.extra(track_scores=True).sort(*STABLE_ORDER).to_dict() if stable else search.to_dict()


def baseline_search(
    text: str, *, size: int, source: Source = True, filters: Sequence[dict] | None = None, stable: bool = False
) -> dict:
    """CSN's Elasticsearch baseline: BM25, standard analyzer, on the name split into subtokens and on the code.
    `stable`: ties broken by path and line (`STABLE_ORDER`), as every search of a codebase is."""
    query = Q("multi_match", query=text, fields=["name_subtokens", "code"], type="best_fields")
    return _search(query, size=size, source=source, filters=filters, stable=stable)


def lexical_search(
    text: str,
    *,
    fields: Sequence[str],
    type: str,
    size: int,
    tie_breaker: float | None = None,
    lemmas: str = "",
    lemma_boost: float = 0.0,
    identifiers: Sequence[str] = (),
    identifier_boost: float = 0.0,
    source: Source = True,
    filters: Sequence[dict] | None = None,
) -> dict:
    """Code-aware analyzers on name, docstring, body (code without docstring) and path, with boosts (`f^2`).

    Query variants (retrieval/query.py) add clauses: identifier forms (`read_csv`, `readcsv`) as whole name
    tokens, and the lemmatised query against name and body. All clauses are one flat disjunction (`should`
    alone), not the main query as `must` with the variants as `should`: a document's score is the same sum
    of its matching clauses, but Lucene can then skip documents that cannot reach the top k on any clause
    (MaxScore), where a required clause with optional ones scored every document of the main query's terms.
    On the full corpus that halved ES's time for the default query (docs/benchmarks.md); the few documents
    matching only a variant now rank too (valid pool MRR unchanged at 0.2597, real MRR 0.3518 -> 0.3524).
    """
    options = {"tie_breaker": tie_breaker} if tie_breaker is not None and type == "best_fields" else {}
    main = Q("multi_match", query=text, fields=list(fields), type=type, **options)
    extra = []
    if identifier_boost > 0:
        extra += [Q("term", func_name={"value": ident, "boost": identifier_boost}) for ident in identifiers]
    if lemma_boost > 0 and lemmas:
        extra.append(Q("multi_match", query=lemmas, fields=["func_name", "body"], boost=lemma_boost))
    query = Q("bool", should=[main, *extra]) if extra else main
    return _search(query, size=size, source=source, filters=filters)


def knn_search(
    vector: Sequence[float],
    *,
    k: int,
    num_candidates: int,
    source: Source = True,
    filters: Sequence[dict] | None = None,
) -> dict:
    """A top-level approximate kNN search (HNSW) over the vector field; `num_candidates` is per shard."""
    options = {"filter": list(filters)} if filters else {}
    search = Search().knn(
        field=VECTOR_FIELD,
        k=k,
        num_candidates=max(num_candidates, k),
        query_vector=[float(x) for x in vector],
        **options,
    )
    return search.extra(size=k).source(source).to_dict()


def msearch_lines(index: str, bodies: Sequence[dict], search_type: str | None = None) -> list[dict]:
    """The `_msearch` request: a header naming the index (and the search type, if any) before each body.

    Partial results are refused (see `SEARCH_OPTIONS`)."""
    return [line for body in bodies for line in (search_header(index, body, search_type), body)]


def search_header(index: str, body: dict, search_type: str | None = None) -> dict:
    """The `_msearch` header of one body. A kNN body takes no search type: ES refuses one, since kNN always
    runs in a DFS-like first phase that gathers the k best of every shard before the query phase."""
    wanted = search_type if search_type and "knn" not in body else None
    return {"index": index, **SEARCH_OPTIONS, **({"search_type": wanted} if wanted else {})}


# ---------------------------------------------------------------- the valid protocol (pipeline/valid.py)


def pool_filter(*, target_id: str, masked_target_id: str) -> list[dict]:
    """Every intact valid function except the target, plus the target's masked copy."""
    intact_others = Q("bool", must_not=[Q("term", masked=True), Q("ids", values=[target_id])])
    return [Q("bool", should=[intact_others, Q("ids", values=[masked_target_id])], minimum_should_match=1).to_dict()]


def ids_filter(doc_ids: Sequence[str]) -> list[dict]:
    """Exactly these documents (CodeSearchNet's batch of 1,000 masked targets)."""
    return [Q("ids", values=list(doc_ids)).to_dict()]


# ---------------------------------------------------------------- the page's highlighting

HIGHLIGHT_FIELDS = ["func_name", "func_name.stem", "docstring", "docstring.code", "code", "path.text"]
# Private-use characters as highlight tags: they do not occur in code and mean nothing to HTML, so the
# caller escapes the text first and turns the spans into marks afterwards.
MARK_START, MARK_END = "\ue000", "\ue001"


def display_search(text: str, *, doc_ids: Sequence[str], source: Source) -> dict:
    """Sources and highlights of documents another query already ranked, whichever mode ranked them.

    The ids filter keeps exactly those documents; the query text, matched on every text field with that
    field's own analyzer (stemming, identifier splitting), only decides what is highlighted. Whole fields
    come back (no fragments), with matches between MARK_START and MARK_END.
    """
    match = Q("multi_match", query=text, fields=HIGHLIGHT_FIELDS)
    search = (
        Search()
        .query(Q("bool", filter=[Q("ids", values=list(doc_ids))], should=[match]))
        .extra(size=len(doc_ids), track_total_hits=False)
        .source(source)
        .highlight_options(pre_tags=[MARK_START], post_tags=[MARK_END], number_of_fragments=0)
        .highlight(*HIGHLIGHT_FIELDS)
    )
    return search.to_dict()


# ---------------------------------------------------------------- an index of a source folder


def functions_of_paths(paths: Sequence[str]) -> dict:
    """Every function document of these files, with what an incremental update compares (path, `fn_sha`);
    for `elasticsearch.helpers.scan`."""
    return Search().filter(Q("terms", path=list(paths))).source(["path", "fn_sha"]).to_dict()


# ---------------------------------------------------------------- searching a codebase (retrieval/codebase.py)


def _weighted_by_role(query, role_weights: dict[str, float]) -> Q:
    """Each unit's score times its file's role weight (tests, examples, compatibility code rank lower)."""
    functions = [
        {"filter": Q("term", role=role).to_dict(), "weight": weight}
        for role, weight in sorted(role_weights.items())
        if weight != 1.0
    ]
    if not functions:
        return query
    return Q("function_score", query=query, functions=functions, score_mode="multiply", boost_mode="multiply")


def codebase_search(
    text: str,
    *,
    fields: Sequence[str],
    type: str,
    symbol: str = "",
    symbol_boost: float = 0.0,
    role_weights: dict[str, float],
    size: int,
    source: Source = True,
    filters: Sequence[dict] | None = None,
) -> dict:
    """BM25 over a codebase's units, with a symbol query sent to its definitions first.

    `symbol` (set when the query is an identifier such as `HTTPAdapter` or `Session.send`): a unit that
    defines it (its unqualified or qualified name equals it) gains `symbol_boost`, a constant on top of its
    text score, so a definition outranks the units that only use the name.
    """
    clauses = [Q("multi_match", query=text, fields=list(fields), type=type)]
    if symbol and symbol_boost > 0:
        defines = Q("bool", should=[Q("term", symbol=symbol), Q("term", **{"func_name.keyword": symbol})])
        clauses.append(Q("constant_score", filter=defines, boost=symbol_boost))
    query = _weighted_by_role(Q("bool", should=clauses), role_weights)
    return _search(query, size=size, source=source, filters=filters, stable=True)


def exact_vector_search(
    vector: Sequence[float],
    *,
    role_weights: dict[str, float],
    size: int,
    source: Source = True,
    filters: Sequence[dict] | None = None,
) -> dict:
    """Every unit scored by cosine similarity to the query vector (exact, not HNSW: a codebase is small, and an
    exact scan ranks the same after any rebuild), weighted by role like the text scores."""
    cosine = Q(
        "script_score",
        query=Q("exists", field=VECTOR_FIELD),
        script={
            "source": f"cosineSimilarity(params.query_vector, '{VECTOR_FIELD}') + 1.0",
            "params": {"query_vector": [float(x) for x in vector]},
        },
    )
    return _search(_weighted_by_role(cosine, role_weights), size=size, source=source, filters=filters, stable=True)
