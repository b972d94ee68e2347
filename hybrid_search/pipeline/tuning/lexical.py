"""`hybrid tune lexical`: field boosts by MRR on valid docstring queries (see pipeline/valid.py for the protocol),
and on real queries when there are some (pipeline/realq.py; the selection rule is in tuning/common.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from hybrid_search.pipeline import realq, valid
from hybrid_search.pipeline.tuning.common import (
    REAL_KEYS,
    TuneRun,
    best_candidate,
    corpus_fingerprint,
    holds_base,
    real_line,
    real_protocol,
    real_scores,
    selection_note,
    valid_queries,
)
from hybrid_search.retrieval.lexical import BaselineRetriever, LexicalRetriever
from hybrid_search.retrieval.params import LexicalParams

# Where the coordinate search starts: every field at weight 1 but the name (3) and the path (0.5).
SEARCH_START = LexicalParams(
    fields={"func_name": 3.0, "docstring": 1.0, "body": 1.0, "path.text": 0.5},
    type="most_fields",
    tie_breaker=None,
    identifier_boost=0.0,
    lemma_boost=0.0,
    drop_web_words=False,
)


def body_field(params: LexicalParams) -> str:
    return "body.stem" if "body.stem" in params.fields else "body"


def stages(search_docstring: bool = False) -> list[Callable[[LexicalParams], list[LexicalParams]]]:
    """Coordinate search: combination type and code field first, then name/code boosts, then extras.

    The docstring boost, and dropping web phrasing from the query, are searched only with real queries
    (`search_docstring`); otherwise the docstring boost stays at its
    prior (1.0, the weight of every other field by default): the docstring protocol masks the target's
    docstring while distractors keep theirs, so any docstring weight can only push the target down, and a
    search over it answers 0 (a first grid did: best pool MRR 0.350 without docstrings, 0.287 with weight 1).
    That measures the protocol, not how docstrings help real queries, which the real queries do measure.
    """

    def with_fields(params: LexicalParams, **boosts) -> LexicalParams:
        return replace(params, fields={**params.fields, **boosts})

    docstring = [lambda best: [with_fields(best, docstring=d) for d in (0.5, 1.0, 2.0, 3.0)]]
    return [
        lambda best: [
            replace(best, type=t, tie_breaker=tb, fields=fields)
            for t, tb in (("most_fields", None), ("best_fields", 0.3))
            for fields in (best.fields, {("body.stem" if k == "body" else k): v for k, v in best.fields.items()})
        ],
        lambda best: [
            with_fields(best, func_name=n, **{body_field(best): b}) for n in (1.0, 2.0, 4.0) for b in (0.5, 1.0, 2.0)
        ],
        *(docstring if search_docstring else []),
        lambda best: [
            with_fields(best, **{"path.text": p, "docstring.code": c}) for p in (0.0, 0.5, 1.0) for c in (0.0, 0.5)
        ],
        # Query understanding (spaCy): identifier-style variants and lemmas as extra clauses.
        lambda best: [
            replace(best, identifier_boost=i, lemma_boost=m) for i in (0.0, 1.0, 2.0, 4.0) for m in (0.0, 0.5)
        ],
        # Web phrasing ("how to ...", "in python"): docstrings never have it, so only real queries can tell.
        *([lambda best: [replace(best, drop_web_words=d) for d in (False, True)]] if search_docstring else []),
    ]


def tune_lexical(run: TuneRun) -> dict:
    client, real, echo = run.client, run.real, run.echo
    functions, queries = valid_queries(run.folder, run.n_queries, run.seed)
    echo(f"valid partition: {len(functions):,} functions, {len(queries):,} docstring queries (seed {run.seed})")
    valid.build_valid_index(client, run.valid_index, functions, queries, progress=run.progress)
    if real is not None:
        realq.build_realq_index(client, run.realq_index, functions, real, progress=run.progress)
        echo(f"real queries: {len(real.queries):,} from {real.source}, searching {run.realq_index}")
    score = _scorer(run, queries)
    baseline = {"mode": "baseline", **score(partial(BaselineRetriever, client, source=False))}
    echo(_line("baseline", baseline))
    # With real queries, candidates are judged by their gains over the untuned CSN baseline on both signals.
    base = baseline if real is not None else None
    rows = _coordinate_search(run, score, base)
    best_result = best_candidate(rows, base)
    best = LexicalParams.from_dict(best_result["params"])
    echo(
        f"best: {_describe(best)}  pool MRR {best_result['mrr_pool']:.4f}, CSN MRR {best_result['mrr_csn']:.4f}"
        + real_line(best_result)
    )
    if base is not None and not holds_base(best_result, base):
        echo("warning: no candidate holds the baseline on both signals; chosen among all")
    scores = {k: best_result[k] for k in ("mrr_pool", "recall_at_100_pool", "mrr_csn", *REAL_KEYS) if k in best_result}
    fixed = {"docstring": "1.0 prior: not identifiable under masking (see pipeline/tuning/lexical.py)"}
    return run.record(
        "lexical",
        best,
        made_for={"corpus": corpus_fingerprint(run.folder)},
        valid_scores=scores,
        summary={
            "valid": scores,
            "selected_by": selection_note(
                "mrr_pool on valid-partition docstring queries (target's docstring masked)", "baseline", base
            ),
            **({} if real is not None else {"fixed": fixed}),
            "protocol": {"queries": len(queries), "seed": run.seed, "valid_functions": len(functions)},
            **real_protocol(run),
            "tried": [baseline, *rows],
        },
    )


Scorer = Callable[[Callable[[str], LexicalRetriever]], dict]


def _scorer(run: TuneRun, queries: list) -> Scorer:
    """Scores a retriever (made for a given index) on the valid index and, with real queries, the real-query one."""

    def score(retriever_over: Callable[[str], LexicalRetriever]) -> dict:
        started = time.monotonic()
        over_valid = retriever_over(run.valid_index)
        result = valid.evaluate_valid(lambda t, k, f: over_valid.search_many(t, k=k, filters=f), queries)
        if run.real is not None:
            rankings = retriever_over(run.realq_index).search_many(run.real.queries, k=realq.DEPTH)
            result.update(real_scores(run.real, rankings))
        result["seconds"] = round(time.monotonic() - started, 1)
        return result

    return score


def _coordinate_search(run: TuneRun, score: Scorer, base: dict | None) -> list[dict]:
    """Every lexical candidate tried, stage by stage, each stage starting from the best so far."""
    best, rows = SEARCH_START, []
    seen: set[str] = set()
    for stage in stages(search_docstring=run.real is not None):
        for params in stage(best):
            key = json.dumps(params.to_dict(), sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            over = partial(LexicalRetriever, run.client, params=params, source=False)
            rows.append({"mode": "lexical", "params": params.to_dict(), **score(over)})
            run.echo(_line(_describe(params), rows[-1]))
        best = LexicalParams.from_dict(best_candidate(rows, base)["params"])
    return rows


def _describe(params: LexicalParams) -> str:
    variants = f" identifiers^{params.identifier_boost:g} lemmas^{params.lemma_boost:g}" if params.uses_variants else ""
    variants += " without web words" if params.drop_web_words else ""
    return f"{params.type} " + " ".join(params.field_list()) + variants


def _line(name: str, result: dict) -> str:
    return (
        f"{name:<70} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}  "
        f"CSN MRR {result['mrr_csn']:.4f}{real_line(result)}  ({result['seconds']}s)"
    )
