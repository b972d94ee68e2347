"""Exact (brute-force) ranks of targets among candidate vectors: the reference for dense retrieval."""

from __future__ import annotations

import numpy as np


def target_ranks(queries: np.ndarray, pool: np.ndarray, targets: np.ndarray, chunk: int = 256) -> np.ndarray:
    """1-based rank of `pool[targets[i]]` for `queries[i]` by dot product (ties count in the target's favour).

    queries: (Q, D), pool: (N, D), targets: (Q,) indices into pool.
    """
    ranks = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ pool.T  # (chunk, N)
        own = scores[np.arange(len(scores)), targets[start : start + chunk]]
        ranks[start : start + chunk] = 1 + (scores > own[:, None]).sum(1)
    return ranks


def top_k(queries: np.ndarray, pool: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Indices (Q, k) of the k best pool rows per query, best first (exact search)."""
    out = np.empty((len(queries), min(k, len(pool))), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ pool.T
        part = np.argpartition(-scores, out.shape[1] - 1, axis=1)[:, : out.shape[1]]
        order = np.take_along_axis(scores, part, 1).argsort(1)[:, ::-1]
        out[start : start + chunk] = np.take_along_axis(part, order, 1)
    return out


def csn_mrr(queries: np.ndarray, codes: np.ndarray, batch: int = 1000) -> float:
    """CodeSearchNet's MRR: query i against its own code i and the other codes of its batch of `batch`.

    queries, codes: (N, D), row i of each describing the same pair.
    """
    reciprocal: list[float] = []
    for start in range(0, len(queries), batch):
        q, c = queries[start : start + batch], codes[start : start + batch]
        reciprocal += (1.0 / target_ranks(q, c, np.arange(len(q)))).tolist()
    return float(np.mean(reciprocal)) if reciprocal else 0.0
