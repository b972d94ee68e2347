"""The JSON API's response shapes (they make its OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hybrid_search.web.service import Outcome


class ResultOut(BaseModel):
    rank: int
    func_name: str
    repo: str
    path: str
    line: int = Field(description="The line of the function's `def` in `path` (0 when unknown).")
    url: str = Field(
        description="The function on GitHub (commit and line range), or for a local source folder "
        "(`hybrid index --source`) a file:// link or the remote's web page."
    )
    score: float = Field(description="The mode's own score (BM25, cosine, fused or re-ranked): compare within a list.")
    grade: float | None = Field(
        description="Mean human relevance 0-3 from CodeSearchNet's annotations; null if the query is not one of "
        "the annotated queries or this function was not graded."
    )
    matched_terms: list[str] = Field(description="Lower-case words of the query Elasticsearch matched in this hit.")
    docstring: str
    code: str


class SearchOut(BaseModel):
    query: str
    mode: str
    k: int
    index: str
    wall_ms: float = Field(description="Server wall time for the search and the fetch of what is shown.")
    es_ms: float = Field(description="Elasticsearch's own time (`took`) for the search requests of the mode.")
    annotated: bool = Field(description="The query is one of CodeSearchNet's annotated queries (case-insensitive).")
    ndcg_within: float | None = Field(
        description="NDCG of these results, CodeSearchNet's 'Within' variant (unannotated urls skipped)."
    )
    ndcg_all: float | None = Field(description="NDCG of these results, 'All' variant (unannotated urls count as 0).")
    results: list[ResultOut]


class ErrorOut(BaseModel):
    error: str


def search_out(outcome: Outcome) -> SearchOut:
    return SearchOut(
        query=outcome.query,
        mode=outcome.mode,
        k=outcome.k,
        index=outcome.index,
        wall_ms=round(outcome.wall_ms, 1),
        es_ms=round(outcome.es_ms, 1),
        annotated=outcome.annotated,
        ndcg_within=outcome.ndcg_within,
        ndcg_all=outcome.ndcg_all,
        results=[
            ResultOut(
                rank=r.rank,
                func_name=r.source.get("func_name", ""),
                repo=r.source.get("repo", ""),
                path=r.source.get("path", ""),
                line=r.source.get("start_line") or 0,
                url=r.hit.url,
                score=r.hit.score,
                grade=r.grade,
                matched_terms=sorted(r.terms),
                docstring=r.source.get("docstring", ""),
                code=r.source.get("code", ""),
            )
            for r in outcome.results
        ],
    )
