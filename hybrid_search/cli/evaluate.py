"""`hybrid eval` and `hybrid score`: NDCG on the annotated queries, as CodeSearchNet's evaluator computes it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hybrid_search.cli.common import (
    Context,
    comma_list,
    data_option,
    k_option,
    progress_option,
    real_queries_option,
    resolve_data,
    resolve_real_queries,
)


@click.command("eval")
@data_option
@click.option("--modes", default=None, help="Comma-separated modes [default: every mode the index supports].")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/eval"), show_default=True)
@k_option(100, "Results per query (CSN's predict.py writes 100; its evaluator reads at most 300).")
@real_queries_option
@progress_option
@click.pass_obj
def eval_cmd(
    obj: Context,
    data: Path | None,
    modes: str | None,
    out: Path,
    k: int,
    real_queries: Path | None,
    no_real_queries: bool,
    progress: bool,
):
    """Run the annotated queries in each mode and print NDCG Within / All (CodeSearchNet's evaluator).

    Writes OUT/<mode>/model_predictions.csv (CSN submission format), OUT/results.json, OUT/per_query.csv
    and a per-query plot. Valid scores are shown for the choices that were tuned for this very index. With
    real queries, each mode's MRR@100 on them (over <alias>-realq) is a second validation figure, "real MRR".
    """
    from hybrid_search.pipeline.challenge import format_report, run_eval

    folder = resolve_data(data)
    client = obj.client()
    index = obj.require_index(client)
    real = resolve_real_queries(real_queries, no_real_queries)
    results = run_eval(
        client, index, folder, paths=obj.paths, modes=comma_list(modes), out=out, k=k, progress=progress, real=real
    )
    click.echo(format_report(results))


@click.command("score")
@click.argument("predictions", type=click.Path(path_type=Path))
@click.option(
    "--annotations",
    type=click.Path(path_type=Path),
    default=None,
    help="annotationStore.csv [default: the data folder's].",
)
@click.option("--language", default="python", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (means and per-query values).")
@data_option
def score_cmd(predictions: Path, annotations: Path | None, language: str, as_json: bool, data: Path | None):
    """Score a CSN-format predictions CSV exactly as CodeSearchNet's relevanceeval.py does."""
    from hybrid_search.data.annotations import load_qrels
    from hybrid_search.data.predictions import read_predictions
    from hybrid_search.evaluation import evaluate_ndcg

    annotations = annotations or resolve_data(data) / "annotationStore.csv"
    scores = evaluate_ndcg(read_predictions(predictions, language), load_qrels(annotations, language))
    if as_json:
        click.echo(json.dumps(scores, indent=2))
    else:
        click.echo(
            f"NDCG Within {scores['ndcg_within']:.4f}   NDCG All {scores['ndcg_all']:.4f}   "
            f"({scores['queries']} queries, {scores['coverage']:.1%} of annotated urls retrieved)"
        )


@click.command("eval-codebase")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--modes", default=None, help="Comma-separated modes [default: every mode each index supports].")
@click.option("--repos", default=None, help="Comma-separated repository names [default: all of the folder's].")
@click.option(
    "--encoder", default=None, metavar="NAME|PATH", help="Encoder for the vectors [default: nbow if trained]."
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/codebase"), show_default=True)
@progress_option
@click.pass_obj
def eval_codebase_cmd(obj: Context, folder: Path, modes, repos, encoder, out: Path, progress: bool):
    """Search codebases as semble's benchmark does: NDCG@10 / NDCG@5 per repository, category and mode.

    FOLDER is laid out like ../shared/semble-dev: repos.json, src/<repo>/<benchmark_root>/ and
    annotations/<repo>.json. Each repository is indexed from nothing behind the alias bench-<repo> (timed,
    then re-run with nothing changed), and every query is run in each mode. "all" counts every target, also
    those no indexed unit covers. Writes OUT/results.json (every query's top 10) and prints the tables.
    """
    from hybrid_search.pipeline.codebase_bench import as_json, format_report, run_codebase_bench

    client = obj.client(request_timeout=120)
    builds, results = run_codebase_bench(
        client,
        folder,
        paths=obj.paths,
        modes=comma_list(modes),
        repos=comma_list(repos),
        encoder=encoder,
        progress=progress,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(as_json(builds, results), indent=1))
    click.echo(format_report(builds, results))


def register(cli: click.Group) -> None:
    cli.add_command(eval_cmd)
    cli.add_command(score_cmd)
    cli.add_command(eval_codebase_cmd)
