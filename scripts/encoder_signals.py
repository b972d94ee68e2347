#!/usr/bin/env python
"""Dense retrieval of trained encoders on both validation signals, exact search, no Elasticsearch.

valid: MRR / recall@100 of the first 400 valid docstring queries (those of `hybrid tune`), each target searched
as its stand-in among the valid functions, all shown without their docstring's first paragraph to a
docstring-reading code side (pipeline/valid.py). real: MRR@100 / recall@10 of the real queries' gold
functions over the valid partition plus the gold functions (pipeline/realq.py). Never reads the 99 queries.

    python scripts/encoder_signals.py ~/.cache/hybrid-search/models/nbow [--read-docstrings]
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from hybrid_search.config import default_data_dir, default_real_queries_dir
from hybrid_search.encoder.encoder import Encoder
from hybrid_search.pipeline.realq import evaluate_real, load_real_queries, realq_functions
from hybrid_search.pipeline.training import evaluate_on_valid_pool, load_training_data
from hybrid_search.retrieval.exact import top_k


def signals(encoder: Encoder, data, real, n_queries: int) -> dict:
    valid = evaluate_on_valid_pool(encoder, dataclasses.replace(data, valid_queries=data.valid_queries[:n_queries]))
    functions = realq_functions(data.valid_functions, real)
    best = top_k(encoder.encode_queries(real.queries), encoder.encode_functions(functions), 100)
    scores = evaluate_real([[functions[i].doc_id for i in row] for row in best], real)
    return {
        "valid_mrr": valid["mrr_pool"],
        "valid_recall_100": valid["recall_at_100_pool"],
        "real_mrr": scores["mrr_at_100"],
        "real_recall_10": scores["recall_at_10"],
    }


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), default=None, help="[default: as `hybrid train`]")
@click.option("--real-queries", type=click.Path(path_type=Path), default=None, help="[default: as `hybrid train`]")
@click.option("--read-docstrings", is_flag=True, help="Let each model's code side read docstrings (no retraining).")
@click.option("--queries", "n_queries", default=400, show_default=True, help="Valid docstring queries.")
def main(models, data, real_queries, read_docstrings, n_queries):
    real_folder, data_folder = real_queries or default_real_queries_dir(), data or default_data_dir()
    if real_folder is None or data_folder is None:
        raise click.UsageError("no data or real-query folder found: pass --data and --real-queries")
    real = load_real_queries(real_folder)
    data = load_training_data(data_folder, held_out=real.urls())
    for folder in models:
        encoder = Encoder.load(folder)
        if read_docstrings:
            encoder.config = dataclasses.replace(encoder.config, reads_docstring=True)
        s = signals(encoder, data, real, n_queries)
        click.echo(
            f"{folder.name}{' +docstrings' if read_docstrings else ''}: valid pool MRR {s['valid_mrr']:.4f} "
            f"R@100 {s['valid_recall_100']:.3f} | real MRR@100 {s['real_mrr']:.4f} R@10 {s['real_recall_10']:.3f}"
        )


if __name__ == "__main__":
    main()
