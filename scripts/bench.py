"""Benchmark the engine at 25%, 50% and 100% of a corpus, beside bm25s and exact numpy search.

    .venv/bin/python scripts/bench.py                      # the shared corpus, all three scales (~30 min)
    .venv/bin/python scripts/bench.py --fractions 0.25 --no-larger-pool   # one quick scale

When ../shared/csn-python-full (551k functions, 1.5x the shared pool) sits beside the data folder, it is
benchmarked whole after the fractions (--larger-pool DIR names another), so the curve reaches past 100%.

Writes the results as JSON and the tables as markdown (docs/benchmarks.json, docs/benchmarks.md). It builds
its own indices (`bench-<pct>`, `bench-<pct>-text`) on the node given by --es-url / HYBRID_ES_URL and deletes
them afterwards; the live alias is never touched. Needs the bench extra (bm25s) and a trained first-stage
encoder (`hybrid train`); mode rerank needs the rerank extra and a re-ranker.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the harness is the top-level `benchmarks` folder, no part of the package

from benchmarks import BenchConfig, run_bench, write_results  # noqa: E402
from hybrid_search import HybridError  # noqa: E402
from hybrid_search.config import EsSettings, Paths, default_data_dir  # noqa: E402
from hybrid_search.es.client import connect  # noqa: E402

DOCS = ROOT / "docs"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None, help="Data folder.")
@click.option("--es-url", envvar="HYBRID_ES_URL", default=None, help="Elasticsearch URL.")
@click.option("--fractions", default="0.25,0.5,1", show_default=True, help="Comma-separated corpus fractions.")
@click.option("--valid-queries", type=click.IntRange(0, 5000), default=200, show_default=True)
@click.option("--modes", default="lexical,dense,hybrid,rerank", show_default=True)
@click.option("--encoder", default="nbow", show_default=True, help="First-stage encoder (models/NAME).")
@click.option(
    "--larger-pool",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="A larger data folder benchmarked whole after the fractions (551k functions: ~15 min more) "
    "[default: csn-python-full beside the data folder, when present].",
)
@click.option("--no-larger-pool", is_flag=True, help="Benchmark the fractions of the data folder only.")
@click.option("--out", type=click.Path(path_type=Path), default=DOCS / "benchmarks.json", show_default=True)
@click.option("--markdown", "md", type=click.Path(path_type=Path), default=DOCS / "benchmarks.md", show_default=True)
def main(data, es_url, fractions, valid_queries, modes, encoder, larger_pool, no_larger_pool, out, md):
    """Measure build time, size, memory, latency, throughput and peers at each corpus fraction (and on a larger
    pool when there is one)."""
    data = data or default_data_dir()
    if data is None:
        raise click.UsageError("no data folder: pass --data or set HYBRID_DATA")
    if larger_pool is None and (data.parent / "csn-python-full").is_dir() and data.name != "csn-python-full":
        larger_pool = data.parent / "csn-python-full"
    config = BenchConfig(
        fractions=tuple(float(f) for f in fractions.split(",")),
        valid_queries=valid_queries,
        modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
        encoder=encoder,
        larger_pool=None if no_larger_pool or larger_pool is None else str(larger_pool),
    )
    try:
        client = connect(EsSettings.from_env(es_url), request_timeout=300)
        results = run_bench(client, data, config, paths=Paths.from_env(), echo=lambda line: click.echo(line, err=True))
    except HybridError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    write_results(results, out, md)
    click.echo(f"results: {out}\ntables:  {md}")


if __name__ == "__main__":
    main()
