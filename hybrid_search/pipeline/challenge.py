"""`hybrid eval`: run the annotated queries through each mode, write CSN submission files, score them."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from elasticsearch import Elasticsearch
from tqdm import tqdm

from hybrid_search import HybridError
from hybrid_search.config import Paths
from hybrid_search.data.annotations import load_qrels, load_queries
from hybrid_search.data.predictions import read_predictions, write_predictions
from hybrid_search.evaluation import evaluate_ndcg
from hybrid_search.evaluation.diagnostics import mean_found, relevant_found
from hybrid_search.evaluation.stats import bootstrap_ci, latency_percentiles, paired_randomization, wins_ties_losses
from hybrid_search.pipeline import realq, valid
from hybrid_search.pipeline.realq import RealQueries
from hybrid_search.retrieval.base import MODES, Ranking, Retriever

LANGUAGE = "python"


@dataclass(frozen=True)
class Challenge:
    queries: list[str]
    qrels: dict[str, dict[str, float]]


def run_mode(retriever: Retriever, queries: list[str], k: int, progress: bool = True) -> list[Ranking]:
    """One ranking per query, one request at a time so that per-query latency is measured honestly."""
    return [
        retriever.search(query, k=k) for query in tqdm(queries, desc=retriever.mode, unit=" q", disable=not progress)
    ]


def prediction_rows(queries: list[str], rankings: list[Ranking]):
    for query, ranking in zip(queries, rankings):
        for hit in ranking.hits:
            yield (query, LANGUAGE, hit.func_name, hit.url)


def score_mode(out_dir: Path, mode: str, challenge: Challenge, rankings: list[Ranking], k: int) -> dict:
    """Write `<out>/<mode>/model_predictions.csv` and score it through the same reader as `hybrid score`."""
    path = out_dir / mode / "model_predictions.csv"
    write_predictions(path, prediction_rows(challenge.queries, rankings))
    scores = evaluate_ndcg(read_predictions(path, LANGUAGE), challenge.qrels)
    wall = latency_percentiles([r.wall_ms for r in rankings])
    return {
        "ndcg_within": scores["ndcg_within"],
        "ndcg_all": scores["ndcg_all"],
        "coverage": scores["coverage"],
        "queries": scores["queries"],
        "k": k,
        "latency_ms_p50": wall["p50"],
        "latency_ms_p95": wall["p95"],
        "es_took_ms_p50": latency_percentiles([r.es_ms for r in rankings])["p50"],
        "predictions": str(path),
        "per_query": scores["per_query"],
        "stages": stage_diagnostics(challenge, rankings, k),
    }


def stage_diagnostics(challenge: Challenge, rankings: list[Ranking], k: int) -> dict:
    """Mean number of each query's relevant annotated functions held by each stage's list (and its mean length),
    from the first-stage lists to the final top 10 and top k."""
    counts, sizes = [], []
    for query, ranking in zip(challenge.queries, rankings):
        relevance = challenge.qrels.get(query.lower(), {})
        if not any(grade > 0 for grade in relevance.values()):
            continue
        lists = {name: [h.url for h in hits] for name, hits in ranking.stages.items()}
        lists |= {"final top 10": [h.url for h in ranking.hits[:10]], f"final top {k}": [h.url for h in ranking.hits]}
        counts.append({"relevant": sum(grade > 0 for grade in relevance.values()), **relevant_found(lists, relevance)})
        sizes.append({name: len(urls) for name, urls in lists.items()})
    return {"queries": len(counts), "mean_relevant_found": mean_found(counts), "mean_list_length": mean_found(sizes)}


def check_output_folder(out: Path) -> None:
    """Fail before any work if the results cannot be written (a run takes minutes)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise HybridError(f"cannot write eval outputs to {out}: {exc.strerror or exc}") from None


def run_eval(
    client: Elasticsearch,
    index: str,
    folder: Path,
    *,
    paths: Paths,
    modes: list[str] | None,
    out: Path,
    k: int,
    progress: bool = True,
    real: RealQueries | None = None,
) -> dict:
    """Every mode over the folder's annotated queries: predictions, NDCG with CIs and tests against the
    baseline, latency, and the valid scores of the choice each mode ran with when it was made for this index.

    With `real` queries, each mode also searches the real-query index (pipeline/realq.py) with this index's
    choices, and its MRR@100 and recall@10 / @100 there are a second validation figure (`real_queries`).
    """
    from hybrid_search.es.indexing import index_meta
    from hybrid_search.retrieval import available_modes, make_retriever
    from hybrid_search.retrieval.tuned import load_choice

    wanted = modes or available_modes(client, index, paths=paths)
    unknown = [m for m in wanted if m not in MODES]
    if unknown:
        raise HybridError(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    check_output_folder(out)
    challenge = Challenge(load_queries(folder / "queries.csv"), load_qrels(folder / "annotationStore.csv"))
    meta = index_meta(client, index)
    results: dict = {"index": index, "data": str(folder), "queries": len(challenge.queries), "k": k, "modes": {}}
    realq_index = real_query_index(client, index, folder, real, meta=meta, paths=paths, progress=progress)
    if realq_index:
        results["real_queries"] = {"source": real.source, "queries": len(real.queries), "index": realq_index}
    for mode in wanted:
        retriever = make_retriever(client, index, mode, paths=paths, source=["url", "func_name"], reproducible=True)
        rankings = run_mode(retriever, challenge.queries, k, progress)
        result = score_mode(out, mode, challenge, rankings, k)
        choice = load_choice(paths.tuned, index, mode)
        result.update(retriever=retriever.describe(), choice=choice.origin)
        if choice.matches(meta) and choice.valid:
            result["valid"] = choice.valid
        if realq_index:
            result["real_queries"] = score_real_queries(client, realq_index, mode, real, index, paths, progress)
        results["modes"][mode] = result
    compare_to_baseline(results["modes"])
    results["files"] = {
        "results": str(write_results(out, results)),
        "per_query": str(write_per_query(out, results["modes"])),
        "plot": str(plot_per_query(out, results["modes"]) or ""),
    }
    return results


def real_query_index(
    client: Elasticsearch,
    index: str,
    folder: Path,
    real: RealQueries | None,
    *,
    meta: dict,
    paths: Paths,
    progress: bool,
) -> str | None:
    """`<index>-realq`, built or reused: the folder's valid partition plus the gold functions, with the vectors of
    `index`'s encoder when it has vectors (so every mode it supports runs there too). None without real queries."""
    if real is None:
        return None
    from hybrid_search.retrieval.dense import index_encoder

    encoder = index_encoder(meta, index, models=paths.models) if "encoder" in meta else None
    pool = valid.valid_functions(folder)
    return realq.build_realq_index(client, realq.default_index(index), pool, real, encoder=encoder, progress=progress)


def score_real_queries(
    client: Elasticsearch, realq_index: str, mode: str, real: RealQueries, alias: str, paths: Paths, progress: bool
) -> dict:
    """MRR@100 and recall@10 / @100 of the real queries' gold functions, searched with `alias`'s choices."""
    from hybrid_search.retrieval import make_retriever

    retriever = make_retriever(
        client, realq_index, mode, paths=paths, source=["url", "func_name"], choices_for=alias, reproducible=True
    )
    scores = realq.evaluate_real(run_mode(retriever, real.queries, realq.DEPTH, progress), real)
    return {key: scores[key] for key in ("mrr_at_100", "recall_at_10", "recall_at_100")}


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
    real = any("real_queries" in r for r in modes.values())
    header = (
        f"{'mode':<9} {'NDCG Within':>11} {'95% CI':>15} {'NDCG All':>9} {'95% CI':>15} {'p(W) vs base':>12} "
        f"{'W/T/L':>10} {'p50 ms':>7}"
    ) + (f" {'real MRR':>8}" if real else "")  # the real queries' MRR@100, when they ran (see run_eval)
    lines = [header, "-" * len(header)]
    for name, r in modes.items():
        low_w, high_w = r.get("ndcg_within_ci95", (float("nan"),) * 2)
        low_a, high_a = r.get("ndcg_all_ci95", (float("nan"),) * 2)
        p = r.get("ndcg_within_p_vs_baseline")
        wtl = r.get("ndcg_within_wtl_vs_baseline")
        row = (
            f"{name:<9} {r['ndcg_within']:>11.4f} {f'[{low_w:.3f}, {high_w:.3f}]':>15} {r['ndcg_all']:>9.4f} "
            f"{f'[{low_a:.3f}, {high_a:.3f}]':>15} {(f'{p:.4f}' if p is not None else '-'):>12} "
            f"{('/'.join(map(str, wtl)) if wtl else '-'):>10} {r['latency_ms_p50']:>7.1f}"
        )
        if real:
            row += f" {r['real_queries']['mrr_at_100']:>8.4f}" if "real_queries" in r else f" {'-':>8}"
        lines.append(row)
    return "\n".join(lines)


def format_report(results: dict) -> str:
    """The table, the note on CIs, the valid scores behind the choices, and where the files are."""
    modes = results["modes"]
    lines = [format_table(modes)]
    lines.append("(95% CIs: bootstrap over queries; p: paired randomisation test of NDCG Within against baseline)")
    if "real_queries" in results:
        real = results["real_queries"]
        lines.append(
            f"(real MRR: MRR@100 of the gold function of {real['queries']} real queries from {real['source']}, "
            f"over the valid partition plus the gold functions, {real['index']}: validation, not a test)"
        )
    lines += format_stages(modes)
    held_out = [f"{m} {r['valid']['mrr_pool']:.4f}" for m, r in modes.items() if "mrr_pool" in r.get("valid", {})]
    if held_out:
        lines.append(
            "valid pool MRR where the parameters were chosen (the annotated queries are held out): "
            + ", ".join(held_out)
        )
    files = results["files"]
    out = Path(files["results"]).parent
    lines.append(
        f"predictions: {out}/<mode>/model_predictions.csv\nresults:     {files['results']}\n"
        f"per query:   {files['per_query']}"
    )
    if files["plot"]:
        lines.append(f"plot:        {files['plot']}")
    return "\n".join(lines)


def format_stages(modes: dict[str, dict]) -> list[str]:
    """Where relevant functions are lost: per mode, the mean found by each stage's list (mean list length)."""
    lines = []
    for name, result in modes.items():
        stages = result.get("stages", {})
        found, sizes = stages.get("mean_relevant_found", {}), stages.get("mean_list_length", {})
        if not found:
            continue
        parts = [f"{stage} {count:.2f} (of {sizes[stage]:.0f})" for stage, count in found.items() if stage in sizes]
        lines.append(f"  {name:<9} relevant {found['relevant']:.2f}: " + ", ".join(parts))
    return ["relevant annotated functions per query found by each stage (mean, list length):", *lines] if lines else []
