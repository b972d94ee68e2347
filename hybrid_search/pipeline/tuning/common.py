"""What the tuners share: valid (and real-query) first-stage lists, their scores, the selection rule, and
recording a choice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from elasticsearch import Elasticsearch

from hybrid_search.config import Paths
from hybrid_search.data.annotations import annotated_urls
from hybrid_search.data.pairs import Pair
from hybrid_search.data.types import Function
from hybrid_search.evaluation.mrr import mean_reciprocal_rank, recall_at
from hybrid_search.pipeline import realq, valid
from hybrid_search.pipeline.realq import RealQueries, RealRuns
from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.exact import top_k
from hybrid_search.retrieval.lexical import LexicalRetriever
from hybrid_search.retrieval.params import Params
from hybrid_search.retrieval.tuned import Choice, save_choice

Echo = Callable[[str], None]


@dataclass(frozen=True)
class TuneRun:
    """What every tuner is given: where to search, which valid queries, and where the choice goes."""

    client: Elasticsearch
    folder: Path  # the data folder whose valid partition gives the queries
    paths: Paths
    alias: str  # the choice is stored for this alias
    n_queries: int
    seed: int
    valid_index: str
    write: bool = True
    progress: bool = True
    echo: Echo = print
    real: RealQueries | None = None  # real queries: a second signal, scored beside the valid one (pipeline/realq.py)
    realq_index: str = ""  # where the real queries search [default: <alias>-realq]

    def __post_init__(self):
        if not self.realq_index:
            object.__setattr__(self, "realq_index", realq.default_index(self.alias))

    def record(self, mode: str, params: Params, *, made_for: dict, valid_scores: dict, summary: dict) -> dict:
        return record_choice(
            self.paths,
            self.alias,
            mode,
            params,
            made_for=made_for,
            valid_scores=valid_scores,
            summary=summary,
            write=self.write,
            echo=self.echo,
        )

    def first_stage(self, encoder, *, depth: int, lexical_params=None, n_queries: int | None = None) -> ValidRuns:
        return valid_first_stage(
            self.client,
            self.folder,
            encoder,
            n_queries=n_queries or self.n_queries,
            seed=self.seed,
            valid_index=self.valid_index,
            depth=depth,
            lexical_params=lexical_params,
            progress=self.progress,
        )

    def real_stage(self, encoder, *, depth: int, pool: list[Function], lexical_params=None) -> RealRuns | None:
        """The real queries' first-stage lists over `pool`'s valid partition + their gold functions (None without)."""
        if self.real is None:
            return None
        return realq.real_first_stage(
            self.client,
            self.realq_index,
            pool,
            self.real,
            encoder,
            depth=depth,
            lexical_params=lexical_params,
            progress=self.progress,
        )


def corpus_fingerprint(folder: Path) -> str:
    """The corpus files' fingerprint, as the index build records it in `_meta.build.files`."""
    from hybrid_search.pipeline.build import source_fingerprint

    return source_fingerprint(folder, None)["files"]


def encoder_identity(encoder) -> dict:
    return {"name": encoder.name, "weights": encoder.fingerprint()}


def record_choice(
    paths: Paths,
    alias: str,
    mode: str,
    params: Params,
    *,
    made_for: dict,
    valid_scores: dict,
    summary: dict,
    write: bool,
    echo: Echo,
) -> dict:
    """Write the grid of every candidate tried under runs/tune/, and (with `write`) the choice for the alias."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    grid = paths.runs / "tune" / f"{alias}-{mode}-{stamp}.json"
    grid.parent.mkdir(parents=True, exist_ok=True)
    summary = {"mode": mode, "alias": alias, "params": params.to_dict(), "made_for": made_for, **summary}
    grid.write_text(json.dumps(summary, indent=2) + "\n")
    echo(f"every candidate tried: {grid}")
    if write:
        choice = Choice(mode, params, made_for, valid_scores, grid=str(grid.resolve()))
        echo(f"choice for '{alias}' saved to {save_choice(paths.tuned, alias, choice)}")
    return summary


@dataclass
class ValidRuns:
    """First-stage lists of the valid docstring queries: lexical from the valid index, dense by exact search."""

    queries: list[Pair]
    functions: dict[str, Function]  # doc id (masked ids included) -> function
    lexical: list[dict[str, float]]
    dense: list[dict[str, float]]
    pool: list[Function] = field(default_factory=list)  # the valid partition, intact (the real queries' pool)


def valid_queries(folder: Path, n_queries: int, seed: int) -> tuple[list[Function], list[Pair]]:
    functions = valid.valid_functions(folder)
    return functions, valid.sample_queries(functions, n_queries, seed, annotated_urls(folder))


def valid_first_stage(
    client: Elasticsearch,
    folder: Path,
    encoder,
    *,
    n_queries: int,
    seed: int,
    valid_index: str,
    depth: int,
    lexical_params=None,
    progress: bool = True,
) -> ValidRuns:
    """Lexical lists come from the valid index (target masked, see pipeline/valid.py); dense lists from exact
    search over the valid pool's vectors, with the target's intact copy replaced by its masked one (under
    the masked copy's id, so both lists name the same document). The dense side sees every function without
    its docstring summary, as pipeline/valid.py says (nothing changes for a code-only encoder)."""
    functions, queries = valid_queries(folder, n_queries, seed)
    valid.build_valid_index(client, valid_index, functions, queries, progress=progress)
    pool = encoder.encode_functions([f.without_summary() for f in functions])
    masked = encoder.encode_functions([q.function.without_summary() for q in queries])
    query_vectors = encoder.encode_queries([q.query for q in queries])
    dense_runs = []
    for query, vector, stand_in, row in zip(queries, query_vectors, masked, top_k(query_vectors, pool, depth + 1)):
        own = query.function.doc_id
        run = {functions[i].doc_id: float(pool[i] @ vector) for i in row if functions[i].doc_id != own}
        run[valid.masked_id(query)] = float(stand_in @ vector)
        dense_runs.append(dict(fusion.top(run, depth)))
    lexical = LexicalRetriever(client, valid_index, params=lexical_params, source=False)
    rankings = lexical.search_many([q.query for q in queries], k=depth, filters=[valid.pool_filter(q) for q in queries])
    by_id = {f.doc_id: f for f in functions} | {valid.masked_id(q): q.function for q in queries}
    lexical_runs = [{h.doc_id: h.score for h in ranking.hits} for ranking in rankings]
    return ValidRuns(queries, by_id, lexical_runs, dense_runs, functions)


def ordered_ids(run: dict[str, float] | list[tuple[str, float]], depth: int = 1000) -> list[str]:
    """A run's document ids best first: a score dict is sorted (ties by id), a ranked list kept as it is."""
    pairs = fusion.top(run, depth) if isinstance(run, dict) else run[:depth]
    return [doc_id for doc_id, _ in pairs]


def pool_scores(queries: list[Pair], runs: list) -> dict:
    """Pool MRR and recall@100 of the masked targets in fused (or re-ranked) runs."""
    ranks = []
    for query, run in zip(queries, runs):
        ordered = ordered_ids(run)
        target = valid.masked_id(query)
        ranks.append(ordered.index(target) + 1 if target in ordered else None)
    return {"mrr_pool": mean_reciprocal_rank(ranks), "recall_at_100_pool": recall_at(ranks, 100)}


def cut(runs: list[dict[str, float]], n: int) -> list[dict[str, float]]:
    return [dict(fusion.top(run, n)) for run in runs]


REAL_KEYS = ("mrr_real", "recall_at_10_real", "recall_at_100_real")


def real_protocol(run: TuneRun) -> dict:
    """The grid's record of the real queries used ({} without)."""
    if run.real is None:
        return {}
    return {"real_queries": {"source": run.real.source, "queries": len(run.real.queries), "index": run.realq_index}}


def real_scores(real: RealQueries, runs: list) -> dict:
    """MRR@100 and recall@10 / @100 of the real queries' gold functions in fused (or re-ranked) runs."""
    return realq.real_columns(realq.evaluate_real(runs, real))


def real_line(result: dict) -> str:
    """The real-query figures of a candidate's printed line ('' without real queries)."""
    if "mrr_real" not in result:
        return ""
    return f"  real MRR {result['mrr_real']:.4f}  R@10 {result['recall_at_10_real']:.3f}"


# ---------------------------------------------------------------- the selection rule

TINY = 1e-9  # a reference that finds nothing makes any gain on that signal decisive, not a division by zero


def two_signal_gain(row: dict, base: dict) -> float:
    """Mean of the relative gains over the reference on both signals: 0.5 * pool / base + 0.5 * real / base."""
    return 0.5 * row["mrr_pool"] / max(base["mrr_pool"], TINY) + 0.5 * row["mrr_real"] / max(base["mrr_real"], TINY)


def holds_base(row: dict, base: dict) -> bool:
    """Not below the reference on either signal."""
    return row["mrr_pool"] >= base["mrr_pool"] and row["mrr_real"] >= base["mrr_real"]


def best_candidate(rows: list[dict], base: dict | None) -> dict:
    """The row to choose (the first of equals, in the order tried).

    With real-query scores in `base` (the tuner's reference, scored on both signals): the highest
    `two_signal_gain` among the rows that hold the reference on both signals, or among all rows when none
    does (the tuner says so). Otherwise the highest valid pool MRR, the docstring protocol's rule alone.
    """
    if base is None or "mrr_real" not in base:
        return max(rows, key=lambda row: row["mrr_pool"])
    holding = [row for row in rows if holds_base(row, base)]
    return max(holding or rows, key=lambda row: two_signal_gain(row, base))


def selection_note(rule_valid_only: str, base_name: str, base: dict | None) -> str:
    """The grid's `selected_by`: the valid-only rule, or the two-signal rule naming its reference."""
    if base is None or "mrr_real" not in base:
        return rule_valid_only
    return (
        f"mean relative gain over {base_name} on both signals, 0.5 * mrr_pool / {base_name} mrr_pool "
        f"+ 0.5 * mrr_real / {base_name} mrr_real (valid docstring queries, real queries), among candidates "
        f"not below {base_name} on either (all candidates when none holds it)"
    )
