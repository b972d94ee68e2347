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
        block, chosen = queries[start : start + chunk], targets[start : start + chunk]
        rows = np.arange(len(block))
        if stand_ins is None:
            scores = block @ pool.T  # (chunk, N)
            own = scores[rows, chosen]
        else:
            # The stand-ins join the same product, so a stand-in equal to a pool row scores exactly the same.
            scores = block @ np.concatenate([pool, stand_ins[start : start + chunk]]).T  # (chunk, N + chunk)
            own = scores[rows, len(pool) + rows]
            scores[:, len(pool) :] = -np.inf  # the other queries' stand-ins are not in this pool ...
            scores[rows, chosen] = -np.inf  # ... nor the target's intact copy
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
