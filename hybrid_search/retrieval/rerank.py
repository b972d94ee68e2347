"""Mode `rerank`: the hybrid top-K re-scored by (fine-tuned) all-MiniLM-L6-v2, combined with the first stage.

final(d) = w * minmax(first-stage score)(d) + (1 - w) * cosine(MiniLM(query), MiniLM(code of d)),
with K and w chosen on the valid partition (`hybrid tune rerank`). Candidate embeddings are cached on
disk per model (sqlite, keyed by document id, under `HYBRID_CACHE_DIR` or the tool's home folder), so a
function is embedded once, whatever query brings it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
from elasticsearch import Elasticsearch

from hybrid_search.config import home_dir
from hybrid_search.data.types import Function
from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.base import Hit, plain_text

PARAMS_FILE = Path(__file__).with_name("rerank_params.json")
DEFAULTS = {"model": "minilm", "int8": False, "candidates": 30, "first_stage_weight": 0.5}


def load_rerank_params(path: Path = PARAMS_FILE) -> dict:
    return {**DEFAULTS, **json.loads(path.read_text())["params"]} if path.exists() else dict(DEFAULTS)


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
    )


def combine_scores(first_stage: dict[str, float], similarity: dict[str, float], weight: float) -> dict[str, float]:
    """w * minmax(first-stage score) + (1 - w) * re-ranker cosine, for the same candidates."""
    first = fusion.min_max(first_stage)
    return {d: weight * first[d] + (1 - weight) * similarity[d] for d in first}


def weights_fingerprint(model_dir: Path) -> str:
    """Changes whenever the model's weights file changes (so a retrained model never reads stale vectors)."""
    weights = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    stamp = "|".join(f"{w.resolve()}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)
    return hashlib.sha1(stamp.encode()).hexdigest()[:12]


class Reranker:
    """Scores candidates with MiniLM, embedding each function once (cache) per model."""

    def __init__(self, model: str = "minilm", int8: bool = False, cache_dir: Path | None = None):
        from hybrid_search.encoder.minilm import MiniLMEncoder

        self.encoder = MiniLMEncoder.load(model, int8=int8)
        variant = "-int8" if int8 else ""
        cache_name = f"{self.encoder.name}{variant}-{weights_fingerprint(self.encoder.path)}.sqlite"
        cache_dir = cache_dir or Path(os.environ.get("HYBRID_CACHE_DIR") or home_dir() / "cache")
        self.cache = EmbeddingCache(cache_dir / cache_name)

    def code_vectors(self, hits: list[Hit], fetch: Callable[[list[str]], dict[str, dict]] | None = None) -> np.ndarray:
        """Vectors of the hits' code: from the cache, else embedded (sources read through `fetch` when given,
        so the first stage need not carry every candidate's code)."""
        cached = self.cache.get_many([h.doc_id for h in hits])
        missing = [h for h in hits if h.doc_id not in cached]
        if missing:
            if fetch is not None:
                sources = fetch([h.doc_id for h in missing])
                missing = [Hit(h.doc_id, h.url, h.score, sources.get(h.doc_id, h.source)) for h in missing]
            fresh = self.encoder.encode_functions([function_of(h) for h in missing])
            new = {h.doc_id: v for h, v in zip(missing, fresh)}
            self.cache.put_many(new)
            cached.update(new)
        return np.stack([cached[h.doc_id] for h in hits]) if hits else np.zeros((0, self.encoder.dims), np.float32)

    def rescore(self, text: str, hits: list[Hit], first_stage_weight: float, fetch=None) -> list[Hit]:
        if not hits:
            return []
        similarity = self.code_vectors(hits, fetch) @ self.encoder.encode_queries([plain_text(text)])[0]
        scores = combine_scores(
            {h.doc_id: h.score for h in hits},
            {h.doc_id: float(s) for h, s in zip(hits, similarity)},
            first_stage_weight,
        )
        scored = [Hit(h.doc_id, h.url, scores[h.doc_id], h.source) for h in hits]
        return sorted(scored, key=lambda h: (-h.score, h.doc_id))


class RerankRetriever:
    """Hybrid candidates, re-ranked.

    Example:
        >>> hits = RerankRetriever(client, "csn-python").search("read a csv file", k=10)
    """

    def __init__(self, client: Elasticsearch, index: str, params: dict | None = None, source=True):
        from hybrid_search.retrieval.hybrid import HybridRetriever

        self.params = {**DEFAULTS, **params} if params else load_rerank_params()
        # Candidates carry only what the caller asked for (plus url and name); the code of those the
        # re-ranker has not embedded yet is fetched for them alone (`_sources`).
        wanted = (
            ["url", "func_name"]
            if source is False
            else (source if source is True else sorted({*source, "url", "func_name"}))
        )
        self.client, self.index = client, index
        self.first_stage = HybridRetriever(client, index, source=wanted)
        self.encoder = self.first_stage.encoder
        self.reranker = Reranker(self.params["model"], int8=self.params["int8"])
        self.took_ms = 0

    def _sources(self, doc_ids: list[str]) -> dict[str, dict]:
        response = self.client.mget(index=self.index, ids=doc_ids, source=["url", "func_name", "repo", "path", "code"])
        return {d["_id"]: d["_source"] for d in response["docs"] if d.get("found")}

    def search(self, text: str, k: int = 10, filters: list[dict] | None = None) -> list[Hit]:
        candidates = self.first_stage.search(text, k=max(k, self.params["candidates"]), filters=filters)
        self.took_ms = self.first_stage.took_ms
        head = candidates[: self.params["candidates"]]
        reranked = self.reranker.rescore(text, head, self.params["first_stage_weight"], fetch=self._sources)
        return (reranked + candidates[len(head) :])[:k]
