"""`hybrid tune hybrid`: fusion method, weights and depth by pool MRR on the valid docstring queries, and by the
real queries too when there are some (the selection rule is in tuning/common.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from hybrid_search.pipeline.realq import RealRuns
from hybrid_search.pipeline.tuning.common import (
    TuneRun,
    ValidRuns,
    best_candidate,
    corpus_fingerprint,
    encoder_identity,
    holds_base,
    pool_scores,
    real_line,
    real_protocol,
    real_scores,
    selection_note,
)
from hybrid_search.retrieval import fusion
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
    depth = max(p.depth for p in grid)
    runs = run.first_stage(encoder, depth=depth, lexical_params=lexical_params)
    real_runs = run.real_stage(encoder, depth=depth, pool=runs.pool, lexical_params=lexical_params)
    scores = _scorer(runs, real_runs)
    singles = {"lexical": scores(lambda lex, den: lex), "dense": scores(lambda lex, den: den)}
    for name, result in singles.items():
        run.echo(_line(name, result))
    tried = []
    for params in grid:
        tried.append({"params": params.to_dict(), **scores(partial(_fuse_top, params))})
        run.echo(_line(_label(params), tried[-1]))
    # With real queries, the reference for both signals is the lexical mode alone (the tuned first stage): a
    # fusion is worth its dense half only for what it adds over lexical.
    base = singles["lexical"] if real_runs is not None else None
    best_row = best_candidate(tried, base)
    best, best_result = FusionParams.from_dict(best_row["params"]), {k: v for k, v in best_row.items() if k != "params"}
    run.echo(f"best: {best.to_dict()} pool MRR {best_result['mrr_pool']:.4f}{real_line(best_result)}")
    if base is not None and not holds_base(best_result, base):
        run.echo("warning: no fusion holds lexical alone on both signals; chosen among all")
    return run.record(
        "hybrid",
        best,
        made_for={"corpus": corpus_fingerprint(run.folder), "encoder": encoder_identity(encoder)},
        valid_scores=best_result,
        summary={
            "valid": best_result,
            "single_modes": singles,
            "selected_by": selection_note(
                "mrr_pool on valid docstring queries (target docstring masked for lexical)", "lexical alone", base
            ),
            "protocol": {"queries": len(runs.queries), "seed": run.seed},
            **real_protocol(run),
            "tried": tried,
        },
    )


Fuse = Callable[[dict[str, float], dict[str, float]], dict[str, float]]


def _scorer(runs: ValidRuns, real_runs: RealRuns | None) -> Callable[[Fuse], dict]:
    """Scores a way of fusing each query's lexical and dense lists: pool scores on the valid queries, and
    real-query scores when there are real queries."""

    def scores(fuse: Fuse) -> dict:
        result = pool_scores(runs.queries, [fuse(lex, den) for lex, den in zip(runs.lexical, runs.dense)])
        if real_runs is not None:
            fused = [fuse(lex, den) for lex, den in zip(real_runs.lexical, real_runs.dense)]
            result.update(real_scores(real_runs.real, fused))
        return result

    return scores


def _fuse_top(params: FusionParams, lexical: dict[str, float], dense: dict[str, float]) -> dict[str, float]:
    """Fusion of the first `params.depth` documents of each list."""
    return params.fuse(dict(fusion.top(lexical, params.depth)), dict(fusion.top(dense, params.depth)))


def _label(params: FusionParams) -> str:
    return f"{params.method} depth {params.depth} w {params.weights} " + (
        f"k {params.rrf_k:g}" if params.method == "rrf" else params.norm
    )


def _line(label: str, result: dict) -> str:
    return f"{label:<44} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}{real_line(result)}"
