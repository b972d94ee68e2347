"""`hybrid eval`: run the annotated queries through each mode, write CSN submission files, score them."""

from __future__ import annotations

import csv
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from hybrid_search.data.predictions import read_predictions, write_predictions
from hybrid_search.evaluation import evaluate_ndcg
from hybrid_search.evaluation.stats import bootstrap_ci, paired_randomization, wins_ties_losses
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


def compare_to_baseline(modes: dict[str, dict], reference: str = "baseline", seed: int = 0) -> None:
    """Add 95% bootstrap CIs to every mode, and (if the reference ran) p-values and wins/ties/losses against it."""
    queries = sorted(next(iter(modes.values()))["per_query"]) if modes else []
    for name, result in modes.items():
        for metric in ("ndcg_within", "ndcg_all"):
            values = [result["per_query"][q][metric] for q in queries]
            result[f"{metric}_ci95"] = list(bootstrap_ci(values, seed=seed))
            if reference in modes and name != reference:
                base = [modes[reference]["per_query"][q][metric] for q in queries]
                result[f"{metric}_p_vs_{reference}"] = paired_randomization(values, base, seed=seed)
                result[f"{metric}_wtl_vs_{reference}"] = list(wins_ties_losses(values, base))


def write_per_query(out_dir: Path, modes: dict[str, dict]) -> Path:
    path = out_dir / "per_query.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "mode", "ndcg_within", "ndcg_all"])
        for name, result in modes.items():
            for query, values in sorted(result["per_query"].items()):
                writer.writerow([query, name, f"{values['ndcg_within']:.6f}", f"{values['ndcg_all']:.6f}"])
    return path


def plot_per_query(out_dir: Path, modes: dict[str, dict], reference: str = "baseline") -> Path | None:
    """Scatter of per-query NDCG Within, each mode against the reference (points above the diagonal: better)."""
    others = [m for m in modes if m != reference]
    if reference not in modes or not others:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    queries = sorted(modes[reference]["per_query"])
    fig, axes = plt.subplots(1, len(others), figsize=(4 * len(others), 4), squeeze=False)
    base = [modes[reference]["per_query"][q]["ndcg_within"] for q in queries]
    for ax, name in zip(axes[0], others):
        values = [modes[name]["per_query"][q]["ndcg_within"] for q in queries]
        wins, ties, losses = wins_ties_losses(values, base)
        ax.scatter(base, values, s=12, alpha=0.7)
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        ax.set(
            xlim=(0, 1.02),
            ylim=(0, 1.02),
            xlabel=f"{reference} NDCG Within",
            ylabel=f"{name} NDCG Within",
            title=f"{name}: {wins} wins / {ties} ties / {losses} losses",
        )
    fig.tight_layout()
    path = out_dir / "per_query_ndcg.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_table(modes: dict[str, dict]) -> str:
    header = (
        f"{'mode':<9} {'NDCG Within':>11} {'95% CI':>15} {'NDCG All':>9} {'95% CI':>15} {'p(W) vs base':>12} "
        f"{'W/T/L':>10} {'p50 ms':>7}"
    )
    lines = [header, "-" * len(header)]
    for name, r in modes.items():
        low_w, high_w = r.get("ndcg_within_ci95", (float("nan"),) * 2)
        low_a, high_a = r.get("ndcg_all_ci95", (float("nan"),) * 2)
        p = r.get("ndcg_within_p_vs_baseline")
        wtl = r.get("ndcg_within_wtl_vs_baseline")
        lines.append(
            f"{name:<9} {r['ndcg_within']:>11.4f} {f'[{low_w:.3f}, {high_w:.3f}]':>15} {r['ndcg_all']:>9.4f} "
            f"{f'[{low_a:.3f}, {high_a:.3f}]':>15} {(f'{p:.4f}' if p is not None else '-'):>12} "
            f"{('/'.join(map(str, wtl)) if wtl else '-'):>10} {r['latency_ms_p50']:>7.1f}"
        )
    return "\n".join(lines)


def valid_scores() -> dict[str, dict]:
    """Each mode's valid-partition scores, as recorded when its parameters were chosen (`hybrid tune ...`)."""
    from hybrid_search.retrieval import hybrid, lexical, rerank

    saved = {
        m: json.loads(f.read_text())
        for m, f in (("lexical", lexical.PARAMS_FILE), ("hybrid", hybrid.PARAMS_FILE), ("rerank", rerank.PARAMS_FILE))
        if f.exists()
    }
    scores = {mode: summary["valid"] for mode, summary in saved.items()}
    if "hybrid" in saved:
        scores["dense"] = saved["hybrid"].get("single_modes", {}).get("dense", {})
    baseline = next((t for t in saved.get("lexical", {}).get("tried", []) if t["mode"] == "baseline"), None)
    if baseline:
        scores["baseline"] = {k: baseline[k] for k in ("mrr_pool", "recall_at_100_pool", "mrr_csn")}
    return scores
