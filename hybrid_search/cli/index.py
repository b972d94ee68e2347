"""`hybrid index` and `hybrid indices ...`: build the versioned index behind the alias, list and prune versions."""

from __future__ import annotations

from pathlib import Path

import click

from hybrid_search.cli.common import Context, data_option, encoder_option, fail, progress_option, resolve_data


@click.command("index")
@data_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Index only the first N functions (quick runs)."
)
@click.option("--strict", is_flag=True, help="Stop at the first bad record instead of skipping and counting it.")
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to list documents ES rejected (id and reason) [default: runs/rejects-<index>.tsv].",
)
@click.option("--rebuild", is_flag=True, help="Build a new version even if the live one holds this corpus already.")
@encoder_option("Also fill dense vectors (kNN) with this trained encoder (see `hybrid train`).")
@click.option(
    "--bulk-size", type=click.IntRange(1, 10000), default=500, show_default=True, help="Documents per bulk request."
)
@click.option(
    "--bulk-retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Retries of documents refused with 429 (back-pressure), waiting 1s, 2s, 4s ... (at most 30s) between.",
)
@progress_option
@click.pass_obj
def index_cmd(obj: Context, data, limit, strict, rejects, rebuild, encoder, bulk_size, bulk_retries, progress):
    """Index the corpus into a new versioned index, then point the alias at it.

    Re-running after a crash resumes the unfinished build (document ids come from urls, so nothing is
    duplicated); the alias moves only once the new index holds every function that was read. If the live
    index was already built from the same files, nothing is done (use --rebuild to force a new version).
    """
    from hybrid_search.pipeline.build import build_index, describe_build, write_rejects

    folder = resolve_data(data)
    client = obj.client(request_timeout=120)
    model = None
    if encoder:
        from hybrid_search.encoder.resolve import load_encoder

        model = load_encoder(encoder, models=obj.paths.models)
    report = build_index(
        client,
        folder,
        obj.index,
        limit=limit,
        strict=strict,
        progress=progress,
        rebuild=rebuild,
        encoder=model,
        chunk_size=bulk_size,
        max_retries=bulk_retries,
    )
    path = write_rejects(rejects or obj.paths.runs / f"rejects-{report.index}.tsv", report.failed)
    lines, failure = describe_build(report, path)
    for line in lines:
        click.echo(line)
    if failure:
        fail(failure, code=3)


@click.group("indices")
def indices():
    """List or prune the versioned indices behind the alias."""


@indices.command("list")
@click.pass_obj
def indices_list(obj: Context):
    """Versions of the alias, with document counts and which one is live."""
    from hybrid_search.es.indexing import describe_versions

    for line in describe_versions(obj.client(), obj.index):
        click.echo(line)


@indices.command("prune")
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.pass_obj
def indices_prune(obj: Context, yes: bool):
    """Delete every version of the alias except the live one and those another process is building."""
    from hybrid_search.es.indexing import index_meta, old_versions
    from hybrid_search.es.lease import describe

    client = obj.client()
    old, kept = old_versions(client, obj.index)
    for name in kept:
        click.echo(f"kept {name}: {describe(index_meta(client, name))}")
    if not old:
        click.echo("nothing to prune")
        return
    if not yes:
        click.confirm(f"delete {', '.join(old)}?", abort=True)
    for name in old:
        # Checked again right before: while the question waited, a build may have resumed it or made it live.
        if name in old_versions(client, obj.index)[0]:
            client.indices.delete(index=name)
            click.echo(f"deleted {name}")
        else:
            click.echo(f"kept {name}: it became live or is being built since")


def register(cli: click.Group) -> None:
    cli.add_command(index_cmd)
    cli.add_command(indices)
