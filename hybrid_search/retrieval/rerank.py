"""Mode `rerank`: the hybrid top-K re-scored by (fine-tuned) all-MiniLM-L6-v2, combined with the first stage.

final(d) = w * minmax(first-stage score)(d) + (1 - w) * cosine(MiniLM(query), MiniLM(code of d)),
with K and w chosen on the valid partition (`hybrid tune rerank`). Candidate embeddings are cached on
disk per model (sqlite, keyed by document id, under `Paths.cache`), so a function is embedded once,
whatever query brings it. A document whose content can change under the same id (an index of a source
folder, `hybrid index --source`) carries `fn_sha`, the hash of its content, which joins the key.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from hybrid_search.config import Paths
from hybrid_search.data.types import Function
from hybrid_search.encoder import READ_TOKENS
from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.base import Hit, OneAtATime, OpenedIndex, Ranking, Timer, plain_text
from hybrid_search.retrieval.codebase import symbol_of
from hybrid_search.retrieval.hybrid import HybridRetriever
from hybrid_search.retrieval.params import RerankParams
from hybrid_search.retrieval.tuned import load_choice


def rerank(
    first_stage: list[tuple[str, float]], similarity: dict[str, float], *, candidates: int, weight: float
) -> list[tuple[str, float]]:
    """The first stage's ranked (doc id, score) list with its head re-scored; the tail keeps its order after it.

    head score = w * minmax(first-stage score) + (1 - w) * re-ranker cosine, over the first `candidates`.
    Used by the retriever and by `hybrid tune rerank` alike.
    """
    head = dict(first_stage[:candidates])
    first = fusion.min_max(head)
    scored = {d: weight * first[d] + (1 - weight) * similarity[d] for d in first}
    return fusion.top(scored, len(scored)) + first_stage[candidates:]


class EmbeddingCache:
    """doc_id -> float32 vector, persisted in one sqlite file per model."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (doc_id TEXT PRIMARY KEY, vector BLOB)")

    def get_many(self, doc_ids: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(doc_ids), 500):
            chunk = doc_ids[start : start + 500]
            rows = self.db.execute(
                f"SELECT doc_id, vector FROM vectors WHERE doc_id IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update({d: np.frombuffer(v, dtype=np.float32) for d, v in rows})
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(d, np.asarray(v, dtype=np.float32).tobytes()) for d, v in items.items()],
            )


def function_of(hit: Hit) -> Function:
    src = hit.source
    return Function(
        url=hit.url,
        repo=src.get("repo", ""),
        path=src.get("path", ""),
        func_name=src.get("func_name", ""),
        code=src.get("code", ""),
        docstring=src.get("docstring", ""),
    )


def cache_key(hit: Hit) -> str:
    """The document id, with the content hash of a document that can change under it (`fn_sha`)."""
    version = hit.source.get("fn_sha")
    return f"{hit.doc_id}:{version}" if version else hit.doc_id


SERVED_BATCH = 8  # candidates per forward pass when served: length-sorted small batches pad less than one of 32
# (30 candidates: 325 against 374 ms on 2 cores, int8, docs/benchmarks.md)


class Reranker:
    """Scores candidates with a MiniLM encoder, embedding each function once (cache) per model.

    `alone`: embed each function in a batch of its own. int8 activations are quantised with one scale per
    batch (and padding follows the batch's longest text), so a vector embedded among other candidates
    depends on them, and a ranking on what was searched before. Embedding alone costs ~3x on a cold cache
    and keeps its own cache file, so evaluation and tuning rank the same whatever the cache held.
    """

    def __init__(self, encoder, cache_dir: Path, *, alone: bool = False):
        self.encoder, self.cache_dir, self.alone = encoder, cache_dir, alone
        variant = (
            ("-int8" if getattr(encoder, "int8", False) else "")
            + ("-doc" if getattr(encoder, "reads_docstring", False) else "")
            + (f"-t{encoder.max_tokens}" if getattr(encoder, "max_tokens", READ_TOKENS) != READ_TOKENS else "")
            + ("-alone" if alone else "")
        )
        self.cache = EmbeddingCache(cache_dir / f"{encoder.name}{variant}-{encoder.fingerprint()}.sqlite")

    def reproducible(self) -> Reranker:
        """The same re-ranker embedding each function alone (see the class docstring)."""
        return self if self.alone else Reranker(self.encoder, self.cache_dir, alone=True)

    def code_vectors(self, hits: list[Hit], fetch: Callable[[list[str]], dict[str, dict]] | None = None) -> np.ndarray:
        """Vectors of the hits' code: from the cache, else embedded (sources read through `fetch` when given,
        so the first stage need not carry every candidate's code)."""
        keys = [cache_key(h) for h in hits]
        cached = self.cache.get_many(keys)
        missing = {key: h for h, key in zip(hits, keys) if key not in cached}
        if missing:
            if fetch is not None:
                sources = fetch([h.doc_id for h in missing.values()])
                missing = {
                    k: Hit(h.doc_id, h.url, h.score, sources.get(h.doc_id, h.source)) for k, h in missing.items()
                }
            functions = [function_of(h) for h in missing.values()]
            fresh = self.encoder.encode_functions(functions, batch_size=1 if self.alone else SERVED_BATCH)
            new = dict(zip(missing, fresh))
            self.cache.put_many(new)
            cached.update(new)
        return np.stack([cached[key] for key in keys]) if hits else np.zeros((0, self.encoder.dims), np.float32)

    def similarities(self, text: str, hits: list[Hit], fetch=None) -> dict[str, float]:
        """doc id -> cosine between the query and the hit's code."""
        if not hits:
            return {}
        scores = self.code_vectors(hits, fetch) @ self.encoder.encode_queries([plain_text(text)])[0]
        return {h.doc_id: float(s) for h, s in zip(hits, scores)}

    def cold_costs(self, texts: list[str], function_lists: list[list[Function]]) -> tuple[float, float]:
        """Milliseconds to embed one candidate and one query, cache bypassed, one list at a time as a served
        search embeds them (a batch is padded to its longest function, so a large mixed batch under-estimates
        the cost; evaluation's one-at-a-time embedding is slower, but only for reproducibility)."""
        started = time.perf_counter()
        for functions in function_lists:
            self.encoder.encode_functions(functions, batch_size=SERVED_BATCH)
        per_function = (time.perf_counter() - started) * 1000 / sum(map(len, function_lists))
        started = time.perf_counter()
        for text in texts:
            self.encoder.encode_queries([text])
        return per_function, (time.perf_counter() - started) * 1000 / len(texts)


class CrossReranker:
    """Scores candidates with a cross-encoder (encoder/cross.py): one pass over each (query, code) pair.

    Nothing is cached (a score belongs to a pair), and a query's candidates form one batch in the first
    stage's order, so a ranking depends only on the index and the query. The scores are min-max scaled over
    the candidates, as the first stage's are before they are combined.
    """

    def __init__(self, encoder):
        self.encoder = encoder

    def reproducible(self) -> CrossReranker:
        return self

    def similarities(self, text: str, hits: list[Hit], fetch=None) -> dict[str, float]:
        """doc id -> the pair's score, min-max scaled over `hits`."""
        if not hits:
            return {}
        if fetch is not None:
            sources = fetch([h.doc_id for h in hits])
            hits = [Hit(h.doc_id, h.url, h.score, sources.get(h.doc_id, h.source)) for h in hits]
        scores = self.encoder.score(plain_text(text), [function_of(h) for h in hits])
        return fusion.min_max({h.doc_id: float(s) for h, s in zip(hits, scores)})

    def cold_costs(self, texts: list[str], function_lists: list[list[Function]]) -> tuple[float, float]:
        """Milliseconds per candidate (the query's text runs inside each pair: no separate query cost)."""
        started = time.perf_counter()
        for text, functions in zip(texts, function_lists):
            self.encoder.score(text, functions)
        return (time.perf_counter() - started) * 1000 / sum(map(len, function_lists)), 0.0


def reranker_for(
    model: str,
    *,
    paths: Paths,
    int8: bool,
    alone: bool = False,
    reads_docstring: bool = False,
    max_tokens: int = READ_TOKENS,
) -> Reranker | CrossReranker:
    """The re-ranker `model` names: a cross-encoder folder (`hybrid train --encoder cross`), else MiniLM
    as a bi-encoder with its embedding cache (reading each candidate's docstring too, with `reads_docstring`,
    and `max_tokens` word pieces of it)."""
    from hybrid_search.encoder.resolve import load_reranker

    encoder = load_reranker(
        model, models=paths.models, int8=int8, reads_docstring=reads_docstring, max_tokens=max_tokens
    )
    if getattr(encoder, "kind", "") == "cross":
        return CrossReranker(encoder)
    return Reranker(encoder, paths.cache, alone=alone)


class RerankRetriever(OneAtATime):
    """Hybrid candidates, re-ranked.

    Example:
        >>> retriever = RerankRetriever(first_stage, Reranker(MiniLMEncoder.load(), cache_dir))
        >>> retriever.search("read a csv file", k=10).hits
    """

    mode = "rerank"

    def __init__(
        self, first_stage: HybridRetriever, reranker: Reranker | CrossReranker, *, params: RerankParams | None = None
    ):
        self.first_stage, self.reranker = first_stage, reranker
        self.client, self.index, self.encoder = first_stage.client, first_stage.index, first_stage.encoder
        self.params = params or RerankParams()

    @classmethod
    def from_index(cls, opened: OpenedIndex):
        params, source = opened.choice(cls.mode).params, opened.source
        # Candidates carry only what the caller asked for (plus url and name); the code of those the
        # re-ranker has not embedded yet is fetched for them alone (`_sources`).
        wanted = (
            ["url", "func_name", "fn_sha"]
            if source is False
            else (source if source is True else sorted({*source, "url", "func_name", "fn_sha"}))
        )
        first_stage = HybridRetriever.from_index(replace(opened, source=wanted))
        reranker = reranker_for(
            params.model,
            paths=opened.paths,
            int8=params.int8,
            reads_docstring=params.reads_docstring,
            max_tokens=params.max_tokens,
        )
        return cls(first_stage, reranker, params=params)

    @classmethod
    def available(cls, index: str, *, paths: Paths) -> bool:
        """The rerank extra is installed and the chosen re-ranker exists (packaged or trained)."""
        from hybrid_search.encoder.resolve import reranker_available

        return reranker_available(load_choice(paths.tuned, index, cls.mode).params.model, models=paths.models)

    def _sources(self, doc_ids: list[str]) -> dict[str, dict]:
        fields = ["url", "func_name", "repo", "path", "code", "docstring"]
        response = self.client.mget(index=self.index, ids=doc_ids, source=fields)
        return {d["_id"]: d["_source"] for d in response["docs"] if d.get("found")}

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        with Timer() as timer:
            first = self.first_stage.search(text, k=max(k, self.params.candidates), filters=filters)
            if self.first_stage.lexical.codebase is not None and symbol_of(text):
                # An identifier in a codebase: the first stage put its definitions first, and the re-ranker,
                # which reads text alone, would only move them down (symbol NDCG@10 1.000 -> 0.852 on semble-dev).
                return Ranking(first.hits[:k], es_ms=first.es_ms, wall_ms=timer.ms, stages=first.stages)
            head = first.hits[: self.params.candidates]
            similarity = self.reranker.similarities(text, head, fetch=self._sources)
            by_id = {h.doc_id: h for h in first.hits}
            ranked = rerank(
                [(h.doc_id, h.score) for h in first.hits],
                similarity,
                candidates=self.params.candidates,
                weight=self.params.first_stage_weight,
            )
            hits = [Hit(d, by_id[d].url, score, by_id[d].source) for d, score in ranked[:k]]
        stages = {**first.stages, "candidates": head}
        return Ranking(hits, es_ms=first.es_ms, wall_ms=timer.ms, stages=stages)

    def reproducible(self) -> RerankRetriever:
        """This retriever with rankings that depend only on the index and the query (for evaluation)."""
        return RerankRetriever(self.first_stage, self.reranker.reproducible(), params=self.params)

    def describe(self) -> dict:
        return {**self.first_stage.describe(), "mode": self.mode, "rerank": self.params.to_dict()}
