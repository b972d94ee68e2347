"""`hybrid data ...`: inspect or fetch the CodeSearchNet data."""

from __future__ import annotations

from pathlib import Path

import click

from hybrid_search.cli.common import data_option, real_queries_option, resolve_data, resolve_real_queries


@click.group("data")
def data():
    """Inspect or fetch the CodeSearchNet data."""


@data.command("info")
@data_option
def data_info(data: Path | None):
    """Count functions per partition and annotated queries in the data folder."""
    from hybrid_search.data.info import describe_folder

    click.echo(describe_folder(resolve_data(data)))


@data.command("pairs")
@data_option
@real_queries_option
def data_pairs(data: Path | None, real_queries: Path | None, no_real_queries: bool):
    """Count training pairs and what each of CodeSearchNet's filters removed (the real queries' gold functions
    count as annotated)."""
    from hybrid_search.pipeline.training import describe_filters, load_training_data

    real = resolve_real_queries(real_queries, no_real_queries)
    held_out = real.urls() if real else frozenset()
    click.echo(describe_filters(load_training_data(resolve_data(data), held_out=held_out)))


@data.command("download")
@click.option("--to", "target", type=click.Path(path_type=Path), required=True, help="Folder to download into.")
def data_download(target: Path):
    """Download the official CSN Python corpus and annotations (needs internet; not needed with ../shared)."""
    from hybrid_search.data.download import download_official

    download_official(target, echo=click.echo)


def register(cli: click.Group) -> None:
    cli.add_command(data)
