"""The peers measured beside the engine on the same functions and queries, behind the retriever contract
(`search(text, *, k, filters) -> Ranking`, wall time from inside the search, no ES time).

Their hits carry the url as the document id: the harness compares rankings by url.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hybrid_search.data.types import Function
from hybrid_search.retrieval.base import Hit, OneAtATime, Ranking, Timer
from hybrid_search.retrieval.exact import top_k

if TYPE_CHECKING:  # annotations only: the bench imports no encoder until it loads one
    from elasticsearch import Elasticsearch

    from hybrid_search.encoder import TextEncoder


class ExactSearch(OneAtATime):
    """Brute-force dot-product search over the same unit vectors as the index: the HNSW recall reference."""

    mode = "exact numpy"

    def __init__(self, encoder: TextEncoder, vectors: np.ndarray, urls: list[str]):
        self.encoder, self.vectors, self.urls = encoder, vectors, urls

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        with Timer() as timer:
            query = self.encoder.encode_queries([text])
            best = top_k(query, self.vectors, k)[0]
        scores = self.vectors[best] @ query[0]  # for the hits only, outside the measured time
        return Ranking([_hit(self.urls[i], s) for i, s in zip(best, scores)], wall_ms=timer.ms)

    def describe(self) -> dict:
        return {"mode": self.mode, "encoder": self.encoder.name, "functions": len(self.urls)}


class Bm25sSearch(OneAtATime):
    """bm25s over the function's name, docstring and code (its default tokenizer and English stop words)."""

    mode = "bm25s"

    def __init__(self, functions: list[Function]):
        import bm25s

        self.bm25s, self.urls = bm25s, [f.url for f in functions]
        corpus = [f"{f.func_name}\n{f.docstring}\n{f.code}" for f in functions]
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        with Timer() as timer:
            words = self.bm25s.tokenize([text], stopwords="en", show_progress=False, return_ids=False)[0]
            known = [word for word in words if word in self.retriever.vocab_dict]
            docs, scores = top_matches(self.retriever.get_scores(known), k) if known else ([], [])
        return Ranking([_hit(self.urls[i], s) for i, s in zip(docs, scores)], wall_ms=timer.ms)

    def describe(self) -> dict:
        return {"mode": self.mode, "functions": len(self.urls)}


class RoundTrip(OneAtATime):
    """A search through the same client that matches nothing: what every mode pays beyond ES's own time
    (HTTP, serialisation, the client), so the floor of any mode against an in-process peer."""

    mode = "round trip"

    def __init__(self, client: Elasticsearch, index: str):
        self.client, self.index = client, index

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        with Timer() as timer:
            response = self.client.search(index=self.index, size=0, query={"match_none": {}}, track_total_hits=False)
        return Ranking([], es_ms=float(response["took"]), wall_ms=timer.ms)

    def describe(self) -> dict:
        return {"mode": self.mode, "index": self.index}


def top_matches(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best documents among those that match (score > 0), best first.

    bm25s's own `retrieve` runs `np.argpartition` over every document's score; with numpy 2.4 (AVX-512) that
    takes 88 ms on 366k scores that are mostly 0 (ties), against 7 ms on distinct ones, which would make the
    peer look 5x slower than it is. Selecting among the matching documents only gives the same top k.
    """
    matching = np.flatnonzero(scores > 0)
    if len(matching) > k:
        matching = matching[np.argpartition(-scores[matching], k - 1)[:k]]
    best = matching[np.argsort(-scores[matching], kind="stable")]
    return best, scores[best]


def _hit(url: str, score) -> Hit:
    return Hit(doc_id=url, url=url, score=float(score))
