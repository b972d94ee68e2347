"""`hybrid index` and `hybrid indices ...`: build the versioned index behind the alias, list and prune versions."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from hybrid_search import HybridError
from hybrid_search.cli.common import (
    Context,
    data_option,
    docstrings_option,
    encoder_option,
    fail,
    index_option,
    progress_option,
    resolve_data,
)


@click.command("index")
@data_option
@click.option(
    "--source",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="PATH",
    help="Index your own code instead of the corpus: the Python functions and methods of this folder (a git "
    "checkout or not; git-ignored files, virtualenvs and build folders left out), behind the alias --index "
    "[default: the folder's name]. A re-run writes only what changed since.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="With --source: stay running and update the index whenever files change (1 s debounce; Ctrl-C stops).",
)
@index_option
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
@click.option(
    "--rebuild",
    is_flag=True,
    help="Build a new version even if the live one holds this corpus (or, with --source, this folder) already.",
)
@encoder_option(
    "Also fill dense vectors (kNN) with this trained encoder (see `hybrid train`). With --source the default is "
    "the live index's encoder, else nbow when it is trained."
)
@docstrings_option("The encoder's code side")
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
@click.option(
    "--shards",
    type=click.IntRange(1, 1024),
    default=None,
    help="Primary shards [default: one per 5M functions; fixed for a version, another count builds a new one].",
)
@click.option(
    "--replicas",
    type=click.IntRange(0, 16),
    default=None,
    help="Replicas of each shard [default: 1 on a cluster of two or more data nodes, else 0]; a write is "
    "acknowledged once two copies hold it when there are replicas.",
)
@click.option(
    "--dfs/--no-dfs",
    default=None,
    help="Search with dfs_query_then_fetch (BM25 statistics of all shards) [default: on with more than one "
    "shard; see docs/scaling.md].",
)
@click.option(
    "--bulk-writers",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Bulk requests in flight at once (ES indexes one while the next is encoded and serialised).",
)
@progress_option
@click.pass_obj
def index_cmd(
    obj: Context,
    data,
    source,
    watch,
    limit,
    strict,
    rejects,
    rebuild,
    encoder,
    reads_docstring,
    bulk_size,
    bulk_retries,
    bulk_writers,
    shards,
    replicas,
    dfs,
    progress,
):
    """Index the corpus into a new versioned index, then point the alias at it; or, with --source, your own code.

    Re-running after a crash resumes the unfinished build (document ids come from urls, so nothing is
    duplicated); the alias moves only once the new index holds every function that was read. If the live
    index was already built from the same files, nothing is done (use --rebuild to force a new version).

    With --source PATH the first run builds the index of that folder; later runs update it in place, reading
    only the files whose content changed and writing only the functions that changed (added, updated,
    deleted; the rest untouched). Files that do not parse are listed with file:line and skipped.
    """
    bulk = {"chunk_size": bulk_size, "max_retries": bulk_retries, "writers": bulk_writers}
    if source is not None:
        refuse_corpus_options(limit=limit, strict=strict, rejects=rejects, shards=shards, replicas=replicas, dfs=dfs)
        return index_source(obj, source, watch, rebuild, encoder, reads_docstring, bulk, progress)
    if watch:
        raise HybridError("--watch needs --source PATH (the corpus does not change)")
    layout = {"shards": shards, "replicas": replicas, "dfs": dfs}
    index_corpus(obj, data, limit, strict, rejects, rebuild, encoder, reads_docstring, bulk, layout, progress)


def refuse_corpus_options(**given) -> None:
    """With --source, the options that only mean something for the corpus are refused in one line."""
    # HYBRID_DATA in the environment names the corpus for other commands: only a --data typed here clashes.
    typed_data = click.get_current_context().get_parameter_source("data") == ParameterSource.COMMANDLINE
    if typed_data or given["limit"] or given["strict"] or given["rejects"]:
        raise HybridError("--data, --limit, --strict and --rejects apply to the corpus, not to --source")
    if any(given[name] is not None for name in ("shards", "replicas", "dfs")):
        # A codebase is small: one shard, no replica, and its ranking needs no cross-shard statistics.
        raise HybridError("--shards, --replicas and --dfs apply to the corpus; a --source index has one shard")


def index_corpus(obj: Context, data, limit, strict, rejects, rebuild, encoder, reads_docstring, bulk, layout, progress):
    """`hybrid index`: build (or resume) the corpus's version behind the alias and report it."""
    from hybrid_search.data.corpus import count_records
    from hybrid_search.es.layout import data_node_count, default_layout
    from hybrid_search.pipeline.build import build_index, describe_build, write_rejects

    folder = resolve_data(data)
    client = obj.client(request_timeout=120)
    functions = min(limit, count_records(folder) or limit) if limit else count_records(folder) or 0
    layout = default_layout(data_nodes=data_node_count(client), functions=functions, **layout)
    model = None
    if encoder:
        from hybrid_search.encoder.resolve import load_encoder

        model = load_encoder(encoder, models=obj.paths.models, reads_docstring=reads_docstring)
    elif reads_docstring is not None:
        raise HybridError("--read-docstrings / --code-only apply to the vectors of --encoder NAME")
    report = build_index(
        client,
        folder,
        obj.index,
        limit=limit,
        strict=strict,
        progress=progress,
        rebuild=rebuild,
        encoder=model,
        chunk_size=bulk["chunk_size"],
        max_retries=bulk["max_retries"],
        layout=layout,
        writers=bulk["writers"],
    )
    path = write_rejects(rejects or obj.paths.runs / f"rejects-{report.index}.tsv", report.failed)
    lines, failure = describe_build(report, path)
    for line in lines:
        click.echo(line)
    if failure:
        fail(failure, code=3)


def index_source(obj: Context, source: Path, watch, rebuild, encoder, reads_docstring, bulk: dict, progress) -> None:
    """`hybrid index --source`: build or update the index of a folder, then, with --watch, keep it current."""
    from hybrid_search.pipeline.source import choose_encoder, default_alias, describe_sync, sync_source
    from hybrid_search.pipeline.watch import watch_source

    if not source.is_dir():
        raise HybridError(f"source folder not found: {source}")
    alias = obj.index if obj.index_given else default_alias(source)
    client = obj.client(request_timeout=120)
    model = choose_encoder(client, alias, encoder, models=obj.paths.models, reads_docstring=reads_docstring)

    def sync(rebuild_now: bool = False, progress_now: bool = progress):
        return sync_source(
            client,
            source,
            alias,
            encoder=model,
            rebuild=rebuild_now,
            progress=progress_now,
            **bulk,
        )

    def show(report) -> None:
        for line in describe_sync(report):
            click.echo(line)

    show(sync(rebuild))
    if not watch:
        return
    if model is not None:  # loaded now (torch: ~1.5 s) rather than on the first edit, which is then searchable sooner
        model.loaded()
    click.echo(f"watching {source} (Ctrl-C stops)")
    try:
        watch_source(source, lambda: sync(False, False), show, say=click.echo)
    except KeyboardInterrupt:
        # An update cut short left its files pending: the next run (or watch) finishes it.
        click.echo("stopped watching")


@click.group("indices")
def indices():
    """List or prune the versioned indices behind the alias."""


@indices.command("list")
@index_option
@click.pass_obj
def indices_list(obj: Context):
    """Versions of the alias, with document counts and which one is live."""
    from hybrid_search.es.indexing import describe_versions

    for line in describe_versions(obj.client(), obj.index):
        click.echo(line)


@indices.command("prune")
@click.option("--yes", is_flag=True, help="Delete without asking.")
@index_option
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
