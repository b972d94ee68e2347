"""Exact (brute-force) ranks of targets among candidate vectors, and CodeSearchNet's MRR built on them."""

from __future__ import annotations

import numpy as np


def target_ranks(
    queries: np.ndarray, pool: np.ndarray, targets: np.ndarray, chunk: int = 256, stand_ins: np.ndarray | None = None
) -> np.ndarray:
    """1-based rank of `pool[targets[i]]` for `queries[i]` by dot product (ties count in the target's favour).

    queries: (Q, D), pool: (N, D), targets: (Q,) indices into pool. `stand_ins` (Q, D): vectors that take the
    targets' place (their masked copies, for an encoder that reads docstrings); the pool stays intact for
    the other queries.
    """
    ranks = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ pool.T  # (chunk, N)
        rows, chosen = np.arange(len(scores)), targets[start : start + chunk]
        if stand_ins is None:
            own = scores[rows, chosen]
        else:
            own = np.einsum("qd,qd->q", queries[start : start + chunk], stand_ins[start : start + chunk])
            scores[rows, chosen] = -np.inf  # the intact copy is not in this query's pool
        ranks[start : start + chunk] = 1 + (scores > own[:, None]).sum(1)
    return ranks


def csn_mrr(queries: np.ndarray, codes: np.ndarray, batch: int = 1000) -> float:
    """CodeSearchNet's MRR: query i against its own code i and the other codes of its batch of `batch`.

    queries, codes: (N, D), row i of each describing the same pair.
    """
    reciprocal: list[float] = []
    for start in range(0, len(queries), batch):
        q, c = queries[start : start + batch], codes[start : start + batch]
        reciprocal += (1.0 / target_ranks(q, c, np.arange(len(q)))).tolist()
    return float(np.mean(reciprocal)) if reciprocal else 0.0
