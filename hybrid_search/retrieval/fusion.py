"""Fusing ranked lists (runs) from several retrievers: pure functions on `{doc_id: score}` dicts.

- Reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009): sum over runs of w / (k + rank).
- Normalised linear combination (Fox & Shaw 1994 "CombSUM" with score normalisation): each run's scores
  mapped by min-max, z-score or l2 normalisation, then a weighted sum; a document missing from a run
  gets that run's normalised minimum (min-max: 0), so it is not rewarded for being absent.

ranx implements the same methods, but pulls numba and works on whole runs; the few lines here keep the
hot query path light and are checked against hand-computed values in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Run = Mapping[str, float]  # doc_id -> score, higher is better


def ranks(run: Run) -> dict[str, int]:
    """1-based ranks by descending score; ties broken by doc id so results are deterministic."""
    ordered = sorted(run.items(), key=lambda kv: (-kv[1], kv[0]))
    return {doc_id: i for i, (doc_id, _) in enumerate(ordered, start=1)}


def rrf(runs: Sequence[Run], weights: Sequence[float] | None = None, k: float = 60.0) -> dict[str, float]:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)) over the runs that contain d."""
    weights = weights or [1.0] * len(runs)
    fused: dict[str, float] = {}
    for run, weight in zip(runs, weights):
        for doc_id, rank in ranks(run).items():
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (k + rank)
    return fused


def min_max(run: Run) -> dict[str, float]:
    if not run:
        return {}
    low, high = min(run.values()), max(run.values())
    span = high - low
    return {d: (s - low) / span if span else 1.0 for d, s in run.items()}


def z_score(run: Run) -> dict[str, float]:
    if not run:
        return {}
    mean = sum(run.values()) / len(run)
    std = math.sqrt(sum((s - mean) ** 2 for s in run.values()) / len(run))
    return {d: (s - mean) / std if std else 0.0 for d, s in run.items()}


def l2(run: Run) -> dict[str, float]:
    norm = math.sqrt(sum(s * s for s in run.values()))
    return {d: s / norm if norm else 0.0 for d, s in run.items()}


NORMALISERS = {"minmax": min_max, "zscore": z_score, "l2": l2}


def linear(runs: Sequence[Run], weights: Sequence[float], norm: str = "minmax") -> dict[str, float]:
    """Weighted sum of normalised scores; a document absent from a run gets that run's lowest normalised score."""
    normalise = NORMALISERS[norm]
    fused: dict[str, float] = {}
    normalised = [normalise(run) for run in runs]
    docs = {d for run in normalised for d in run}
    for run, weight in zip(normalised, weights):
        floor = min(run.values()) if run else 0.0
        for doc_id in docs:
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * run.get(doc_id, floor)
    return fused


def top(run: Run, k: int) -> list[tuple[str, float]]:
    """The k best (doc_id, score) pairs, ties broken by doc id."""
    return sorted(run.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
