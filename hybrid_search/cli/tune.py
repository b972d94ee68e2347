"""`hybrid tune ...`: choose each mode's parameters on the valid partition (never on the annotated queries).

Each tuner prints every candidate, writes the grid under runs/tune/ and (unless --no-write) stores the choice
for the alias (--index) under the tool's home, with what it was made for; modes then run with it. With real
queries (--real-queries, on by default where the shared folder is), lexical, hybrid and rerank score every
candidate on them too and choose by both signals (pipeline/tuning/common.py `best_candidate`).
"""

from __future__ import annotations

import click

from hybrid_search import HybridError
from hybrid_search.cli.common import (
    Context,
    comma_list,
    data_option,
    docstrings_option,
    encoder_option,
    progress_option,
    queries_option,
    real_queries_option,
    resolve_data,
    resolve_real_queries,
    seed_option,
    valid_index_option,
    write_option,
)
from hybrid_search.encoder import READ_TOKENS


def tune_options(default_queries: int, max_queries: int, queries_help: str, valid_index: bool = True):
    """The options every tuner shares (dense searches the live index itself, so it has no --valid-index, and
    measures HNSW recall, not quality, so it has no real queries either)."""
    shared = (
        data_option,
        queries_option(default_queries, max_queries, queries_help),
        seed_option,
        *([valid_index_option, real_queries_option] if valid_index else []),
        write_option,
        progress_option,
    )

    def decorate(function):
        for option in reversed(shared):
            function = option(function)
        return function

    return decorate


def tune_run(
    obj: Context, data, n_queries, seed, write, progress, valid_index=None, real_queries=None, no_real_queries=True
):
    """The shared arguments of one tuner run, bound to the alias given by --index."""
    from hybrid_search.pipeline.tuning.common import TuneRun

    return TuneRun(
        client=obj.client(request_timeout=120),
        folder=resolve_data(data),
        paths=obj.paths,
        alias=obj.index,
        n_queries=n_queries,
        seed=seed,
        valid_index=valid_index or f"{obj.index}-valid",
        write=write,
        progress=progress,
        echo=click.echo,
        real=resolve_real_queries(real_queries, no_real_queries),
    )


@click.group("tune")
def tune():
    """Choose parameters on the valid partition (never on the annotated queries)."""


@tune.command("lexical")
@tune_options(1000, 100000, "Valid docstring queries to sample.")
@click.pass_obj
def tune_lexical_cmd(obj: Context, **shared):
    """Lexical field boosts by MRR on valid docstring queries (the target's docstring masked) and, with real
    queries, on those too (the docstring boost is then searched as well)."""
    from hybrid_search.pipeline.tuning.lexical import tune_lexical

    tune_lexical(tune_run(obj, **shared))


@tune.command("dense")
@tune_options(1000, 100000, "Valid docstring queries to sample.", valid_index=False)
@click.option("--target-recall", type=click.FloatRange(0, 1), default=0.98, show_default=True)
@click.pass_obj
def tune_dense_cmd(obj: Context, target_recall, **shared):
    """kNN num_candidates: the smallest whose HNSW recall@100 against exact search over the same vectors reaches
    --target-recall, on valid queries over the live index."""
    from hybrid_search.pipeline.tuning.dense import tune_dense

    run = tune_run(obj, **shared)
    obj.require_index(run.client)
    tune_dense(run, target_recall=target_recall)


@tune.command("hybrid")
@tune_options(1000, 100000, "Valid docstring queries to sample.")
@encoder_option("Encoder of the dense half [default: the one that made the live index's vectors].")
@docstrings_option("The dense half's code side", "as the live index's vectors were made, or --encoder's own")
@click.pass_obj
def tune_hybrid_cmd(obj: Context, encoder, reads_docstring, **shared):
    """Fusion method, weights and depth for mode hybrid, by pool MRR on valid docstring queries (and real ones)."""
    from hybrid_search.pipeline.tuning.hybrid import tune_hybrid
    from hybrid_search.retrieval.tuned import load_choice

    run = tune_run(obj, **shared)
    lexical = load_choice(obj.paths.tuned, obj.index, "lexical").params
    tune_hybrid(run, tuning_encoder(obj, run.client, encoder, reads_docstring), lexical)


def variants_option(flag: str, when_true: str, when_false: str, help: str):
    """`FLAG both|WHEN_TRUE|WHEN_FALSE`: which values of a yes/no setting a tuner tries, given as a tuple of bools."""
    values = {"both": (False, True), when_true: (True,), when_false: (False,)}
    return click.option(
        flag,
        type=click.Choice(list(values)),
        default="both",
        show_default=True,
        help=help,
        callback=lambda _context, _param, value: values[value],
    )


@tune.command("rerank")
@tune_options(200, 1000, "Valid queries to re-rank (MiniLM embeds ~50 functions/s on a CPU).")
@encoder_option("Encoder of the first stage's dense half [default: the one that made the live index's vectors].")
@docstrings_option("The first stage's dense code side", "as the live index's vectors were made, or --encoder's own")
@click.option(
    "--models",
    default="minilm",
    show_default=True,
    help="Comma-separated re-rankers to compare: minilm (zero-shot) and/or fine-tuned folders (names or paths).",
)
@click.option(
    "--latency-budget",
    type=float,
    default=250.0,
    show_default=True,
    help="Max cold-cache milliseconds per query a setting may cost (K x embedding time + query; 250: the "
    "re-ranked search's target, docs/benchmarks.md).",
)
@variants_option("--precision", "int8", "fp32", "Try each re-ranker with int8 weights, in full precision, or both.")
@variants_option(
    "--docstrings",
    "read",
    "ignore",
    "Try each bi-encoder re-ranker reading candidates' docstrings before their code, ignoring them, or both "
    "(on valid queries every candidate is then shown without its docstring's first paragraph, as the target is).",
)
@click.option(
    "--word-pieces",
    default=str(READ_TOKENS),
    show_default=True,
    callback=lambda _context, _param, value: tuple(int(n) for n in comma_list(value)),
    help="Comma-separated lengths (word pieces) a bi-encoder re-ranker reads of each candidate, each tried: "
    "its cold cost is about linear in them.",
)
@click.pass_obj
def tune_rerank_cmd(
    obj: Context, encoder, reads_docstring, models, latency_budget, precision, docstrings, word_pieces, **shared
):
    """Re-ranker model, candidate depth K and first-stage weight, by pool MRR on valid docstring queries (and
    real ones)."""
    from hybrid_search.pipeline.tuning.rerank import tune_rerank
    from hybrid_search.retrieval.tuned import load_choice

    run = tune_run(obj, **shared)
    tune_rerank(
        run,
        tuning_encoder(obj, run.client, encoder, reads_docstring),
        comma_list(models) or ["minilm"],
        lexical_params=load_choice(obj.paths.tuned, obj.index, "lexical").params,
        fusion_params=load_choice(obj.paths.tuned, obj.index, "hybrid").params,
        latency_budget_ms=latency_budget,
        precisions=precision,
        docstrings=docstrings,
        max_tokens=word_pieces,
    )


def tuning_encoder(obj: Context, client, name: str | None, reads_docstring: bool | None = None):
    """The encoder named by --encoder, else the one that made the live index's vectors; its code side reading
    docstrings as --read-docstrings / --code-only say, else as that encoder's vectors are made."""
    if name:
        from hybrid_search.encoder.resolve import load_encoder

        return load_encoder(name, models=obj.paths.models, reads_docstring=reads_docstring)
    from hybrid_search.es.indexing import index_meta
    from hybrid_search.retrieval.dense import index_encoder

    if not client.indices.exists(index=obj.index):
        raise HybridError(f"no index '{obj.index}' to take the encoder from: build it with vectors or pass --encoder")
    encoder = index_encoder(index_meta(client, obj.index), obj.index, models=obj.paths.models)
    return encoder if reads_docstring is None else encoder.reading_docstrings(reads_docstring)


def register(cli: click.Group) -> None:
    cli.add_command(tune)
