"""`hybrid tune hybrid`: fusion method, weights and depth by pool MRR on the valid docstring queries."""

from __future__ import annotations

from hybrid_search.pipeline.tuning.common import TuneRun, corpus_fingerprint, cut, encoder_identity, pool_scores
from hybrid_search.retrieval.params import FusionParams, LexicalParams


def hybrid_candidates() -> list[FusionParams]:
    """Fusion settings tried on valid: RRF (k, weights) and min-max / z-score linear combinations, two depths."""
    grid = []
    for depth in (100, 200):
        for k in (10, 30, 60):
            for weights in ((1.0, 1.0), (1.0, 0.5), (0.5, 1.0)):
                grid.append(FusionParams("rrf", depth, weights, rrf_k=k, norm="minmax"))
        for norm in ("minmax", "zscore"):
            for alpha in (0.2, 0.35, 0.5, 0.65, 0.8):
                grid.append(FusionParams("linear", depth, (alpha, 1 - alpha), norm=norm))
    return grid


def tune_hybrid(run: TuneRun, encoder, lexical_params: LexicalParams) -> dict:
    grid = hybrid_candidates()
    runs = run.first_stage(encoder, depth=max(p.depth for p in grid), lexical_params=lexical_params)
    echo = run.echo
    singles = {"lexical": pool_scores(runs.queries, runs.lexical), "dense": pool_scores(runs.queries, runs.dense)}
    for name, result in singles.items():
        echo(f"{name:<44} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}")
    tried, best, best_result = [], None, None
    for params in grid:
        lexical, dense = cut(runs.lexical, params.depth), cut(runs.dense, params.depth)
        result = pool_scores(runs.queries, [params.fuse(lex, den) for lex, den in zip(lexical, dense)])
        tried.append({"params": params.to_dict(), **result})
        label = f"{params.method} depth {params.depth} w {params.weights} " + (
            f"k {params.rrf_k:g}" if params.method == "rrf" else params.norm
        )
        echo(f"{label:<44} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}")
        if best_result is None or result["mrr_pool"] > best_result["mrr_pool"]:
            best, best_result = params, result
    echo(f"best: {best.to_dict()} pool MRR {best_result['mrr_pool']:.4f}")
    return run.record(
        "hybrid",
        best,
        made_for={"corpus": corpus_fingerprint(run.folder), "encoder": encoder_identity(encoder)},
        valid_scores=best_result,
        summary={
            "valid": best_result,
            "single_modes": singles,
            "selected_by": "mrr_pool on valid docstring queries (target docstring masked for lexical)",
            "protocol": {"queries": len(runs.queries), "seed": run.seed},
            "tried": tried,
        },
    )
