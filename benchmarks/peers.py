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
            tokens = self.bm25s.tokenize([text], stopwords="en", show_progress=False)
            if not tokens.vocab:  # every word a stop word: bm25s cannot score an empty query
                docs, scores = np.zeros((1, 0), dtype=int), np.zeros((1, 0))
            else:
                docs, scores = self.retriever.retrieve(
                    tokens, k=min(k, len(self.urls)), show_progress=False, n_threads=1
                )
        return Ranking([_hit(self.urls[i], s) for i, s in zip(docs[0], scores[0])], wall_ms=timer.ms)

    def describe(self) -> dict:
        return {"mode": self.mode, "functions": len(self.urls)}


def _hit(url: str, score) -> Hit:
    return Hit(doc_id=url, url=url, score=float(score))
