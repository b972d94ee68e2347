"""Significance over queries: bootstrap confidence intervals and the paired randomisation test.

References: Efron & Tibshirani (1993) for the percentile bootstrap; Smucker, Allan & Carterette (CIKM 2007)
for the paired randomisation (sign-flip) test in IR evaluation. Both are seeded, so reports reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(
    values: Sequence[float], resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over queries."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    return (float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))


def paired_randomization(a: Sequence[float], b: Sequence[float], permutations: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value that mean(a - b) differs from 0, by randomly swapping each query's pair."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size == 0 or not diff.any():
        return 1.0
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(permutations, diff.size))
    extreme = (np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum()
    return float((extreme + 1) / (permutations + 1))


def wins_ties_losses(a: Sequence[float], b: Sequence[float], tolerance: float = 1e-9) -> tuple[int, int, int]:
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return int((diff > tolerance).sum()), int((np.abs(diff) <= tolerance).sum()), int((diff < -tolerance).sum())


def latency_percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean of latencies: the one definition eval, bench and page report (linear
    interpolation between order statistics, numpy's default; all zeros for no values)."""
    if len(values_ms) == 0:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0}
    p50, p95, p99 = (float(np.percentile(values_ms, q)) for q in (50, 95, 99))
    return {"p50": p50, "p95": p95, "p99": p99, "mean": float(np.mean(values_ms))}
