"""`hybrid eval`: run the annotated queries through each mode, write CSN submission files, score them."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from hybrid_search.data.predictions import read_predictions, write_predictions
from hybrid_search.evaluation import evaluate_ndcg
from hybrid_search.retrieval.base import Hit

LANGUAGE = "python"


@dataclass(frozen=True)
class Challenge:
    queries: list[str]
    qrels: dict[str, dict[str, float]]


def run_mode(
    search, queries: list[str], k: int, progress: bool = True, desc: str = ""
) -> tuple[list[list[Hit]], list[float]]:
    """Ranked hits per query, one request at a time so that per-query latency is measured honestly."""
    ranked, latencies = [], []
    for query in tqdm(queries, desc=desc, unit=" q", disable=not progress):
        started = time.perf_counter()
        ranked.append(search(query, k=k))
        latencies.append((time.perf_counter() - started) * 1000)
    return ranked, latencies


def prediction_rows(queries: list[str], ranked: list[list[Hit]]):
    for query, hits in zip(queries, ranked):
        for hit in hits:
            yield (query, LANGUAGE, hit.func_name, hit.url)


def score_mode(
    out_dir: Path,
    mode: str,
    challenge: Challenge,
    queries: list[str],
    ranked: list[list[Hit]],
    latencies: list[float],
    k: int,
) -> dict:
    """Write `<out>/<mode>/model_predictions.csv` and score it through the same reader as `hybrid score`."""
    path = out_dir / mode / "model_predictions.csv"
    write_predictions(path, prediction_rows(queries, ranked))
    scores = evaluate_ndcg(read_predictions(path, LANGUAGE), challenge.qrels)
    latencies = sorted(latencies)
    return {
        "ndcg_within": scores["ndcg_within"],
        "ndcg_all": scores["ndcg_all"],
        "coverage": scores["coverage"],
        "queries": scores["queries"],
        "k": k,
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "latency_ms_p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "predictions": str(path),
        "per_query": scores["per_query"],
    }


def write_results(out_dir: Path, results: dict) -> Path:
    path = out_dir / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False))
    return path


def format_table(modes: dict[str, dict]) -> str:
    lines = [f"{'mode':<10} {'NDCG Within':>12} {'NDCG All':>10} {'coverage':>9} {'p50 ms':>8}", "-" * 53]
    for mode, r in modes.items():
        lines.append(
            f"{mode:<10} {r['ndcg_within']:>12.4f} {r['ndcg_all']:>10.4f} {r['coverage']:>9.3f} "
            f"{r['latency_ms_p50']:>8.1f}"
        )
    return "\n".join(lines)
