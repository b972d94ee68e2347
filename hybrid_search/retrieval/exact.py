"""Exact (brute-force) nearest neighbours by dot product: the reference that HNSW recall is measured against."""

from __future__ import annotations

import numpy as np


def top_k(queries: np.ndarray, pool: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Indices (Q, k) of the k best pool rows per query, best first (exact search)."""
    out = np.empty((len(queries), min(k, len(pool))), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ pool.T
        part = np.argpartition(-scores, out.shape[1] - 1, axis=1)[:, : out.shape[1]]
        order = np.take_along_axis(scores, part, 1).argsort(1)[:, ::-1]
        out[start : start + chunk] = np.take_along_axis(part, order, 1)
    return out
