"""`hybrid train`: train a query/code encoder, or fine-tune the MiniLM re-ranker."""

from __future__ import annotations

from pathlib import Path

import click

from hybrid_search.cli.common import (
    Context,
    data_option,
    progress_option,
    real_queries_option,
    resolve_data,
    resolve_real_queries,
)

DEFAULT_BATCH_SIZE = {"minilm": 32, "cross": 4}
DEFAULT_LR = {"minilm": 2e-5, "cross": 3e-5}


@click.command("train")
@data_option
@click.option(
    "--encoder",
    "kind",
    type=click.Choice(["nbow", "attn", "selfatt", "minilm", "cross"]),
    default="nbow",
    show_default=True,
    help="nbow: bag of words (mean); attn: bag of words, attention pooling; selfatt: small Transformer; "
    "minilm: fine-tune all-MiniLM-L6-v2 as a re-ranker (needs the rerank extra; --max-pairs default 2000); "
    "cross: all-MiniLM-L6-v2 as a cross-encoder re-ranker, on pairs with hard negatives mined by --first-stage.",
)
@click.option(
    "--read-docstrings",
    is_flag=True,
    help="nbow/attn/selfatt/minilm: the code side also reads each function's docstring (trained on the "
    "paragraphs after the first, which is the query; indexed or re-ranked with the whole docstring).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Model folder [default: <models>/<encoder> (minilm: minilm-ft), with -doc after it with --read-docstrings].",
)
@click.option("--epochs", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(2, 65536),
    default=None,
    help="Pairs per step (cross: groups per step) [default: 512; minilm 32; cross 4].",
)
@click.option("--lr", type=float, default=None, help="Learning rate [default: 2e-3; minilm 2e-5; cross 3e-5].")
@click.option("--dim", type=click.IntRange(8, 4096), default=256, show_default=True)
@click.option(
    "--layers",
    type=click.IntRange(1, 12),
    default=None,
    help="selfatt: Transformer layers [default: 1]; cross: MiniLM layers kept [default: 6, all].",
)
@click.option(
    "--max-code-len",
    type=click.IntRange(8, 4096),
    default=256,
    show_default=True,
    help="Code tokens read (cross: tokens of query and code together).",
)
@click.option(
    "--negatives", type=click.IntRange(1, 19), default=3, show_default=True, help="cross: mined negatives per pair."
)
@click.option(
    "--first-stage",
    default="nbow",
    show_default=True,
    help="cross: the trained encoder (name or folder) that mines the hard negatives.",
)
@click.option("--max-pairs", type=click.IntRange(1), default=None, help="Train on the first N pairs only.")
@click.option("--seed", default=13, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="torch threads [default: all cores].")
@click.option("--retrain", is_flag=True, help="Train again from scratch even if the folder holds a finished training.")
@real_queries_option
@progress_option
@click.pass_obj
def train_cmd(
    obj: Context,
    data,
    kind,
    read_docstrings,
    out,
    epochs,
    batch_size,
    lr,
    dim,
    layers,
    max_code_len,
    negatives,
    first_stage,
    max_pairs,
    seed,
    threads,
    retrain,
    real_queries,
    no_real_queries,
    progress,
):
    """Train a query/code encoder on (docstring, code) pairs of the train partition.

    Keeps the epoch with the best valid MRR (CodeSearchNet protocol), then scores it over the whole valid
    pool. Interrupted? Run the same command again: it resumes from the last finished epoch. Already
    trained with the same settings? It says so and does nothing (--retrain to train again). The annotated
    functions and the real queries' gold functions (--real-queries) are never trained on.
    """
    import torch

    from hybrid_search.encoder.models import EncoderConfig
    from hybrid_search.encoder.train import TrainConfig
    from hybrid_search.pipeline.training import run_minilm, run_training

    batch_size = DEFAULT_BATCH_SIZE.get(kind, 512) if batch_size is None else batch_size
    lr = DEFAULT_LR.get(kind, 2e-3) if lr is None else lr
    if threads:
        torch.set_num_threads(threads)
    folder = resolve_data(data)
    real = resolve_real_queries(real_queries, no_real_queries)
    held_out = real.urls() if real else frozenset()
    if kind == "cross" and read_docstrings:
        raise click.UsageError("--read-docstrings is for bi-encoders (nbow, attn, selfatt, minilm), not cross")
    # What the MiniLM-based trainings (bi-encoder and cross-encoder) take alike.
    common = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "retrain": retrain}
    common |= {"progress": progress, "echo": click.echo, "held_out": held_out}
    if kind == "cross":
        from hybrid_search.encoder.resolve import load_encoder
        from hybrid_search.pipeline.cross import run_cross

        run_cross(
            folder,
            out or obj.paths.models / "cross",
            load_encoder(first_stage, models=obj.paths.models),
            max_pairs=max_pairs or 2000,
            negatives=negatives,
            layers=layers or 6,
            max_length=max_code_len,
            **common,
        )
        return
    if kind == "minilm":
        default_out = obj.paths.models / ("minilm-ft-doc" if read_docstrings else "minilm-ft")
        run_minilm(folder, out or default_out, max_pairs=max_pairs or 2000, reads_docstring=read_docstrings, **common)
        return
    config = TrainConfig(
        encoder=EncoderConfig(
            kind=kind, dim=dim, layers=layers or 1, max_code_len=max_code_len, reads_docstring=read_docstrings
        ),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
    )
    run_training(
        folder,
        config,
        out or obj.paths.models / (f"{kind}-doc" if read_docstrings else kind),
        retrain=retrain,
        progress=progress,
        echo=click.echo,
        max_pairs=max_pairs,
        held_out=held_out,
    )


def register(cli: click.Group) -> None:
    cli.add_command(train_cmd)
