"""`hybrid search` and `hybrid serve`: ranked functions in the terminal or on a web page."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hybrid_search import HybridError
from hybrid_search.agent import SNIPPET_LINES
from hybrid_search.cli.common import Context, comma_list, data_option, fail, index_option, k_option
from hybrid_search.retrieval.base import MODES


def indices_option(function):
    """`--index NAME[,NAME...]`: one alias, or several searched as one (results labelled by folder)."""

    def set_indices(ctx: click.Context, param, value: str | None):
        from hybrid_search.es.indexing import validate_name

        names = comma_list(value)
        if value is not None and not names:
            raise click.BadParameter("give at least one alias")
        return list(dict.fromkeys(validate_name(name) for name in names)) if names else None

    return click.option(
        "--index",
        "indices",
        default=None,
        metavar="NAME[,NAME...]",
        callback=set_indices,
        help="Alias to search (the same as `hybrid --index NAME ...`); several, comma-separated, are searched as "
        "one, each result labelled by its folder.",
    )(function)


def snippet_option(function):
    return click.option(
        "--max-snippet-lines",
        "--lines",
        "lines",
        type=click.IntRange(0, 1000),
        default=None,
        help=f"Code lines shown per result [default: 4, with --json {SNIPPET_LINES}].",
    )(function)


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (the schema of docs/agents.md, the same as the MCP server's tools).",
)


@click.command("search")
@click.argument("query")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=None,
    help="Retrieval mode [default: hybrid when the index has vectors, else lexical; lexical on an index of a "
    "source folder; as on the page].",
)
@k_option(10, "Results to show.")
@snippet_option
@click.option(
    "--path",
    default=None,
    metavar="PATH",
    help="Only units under this file or folder (absolute, or relative to the indexed folder).",
)
@json_option
@indices_option
@click.pass_obj
def search_cmd(
    obj: Context, query: str, mode: str | None, k: int, lines: int | None, path: str | None, as_json: bool, indices
):
    """Search the index (or several, --index a,b) and print ranked functions."""
    from hybrid_search.retrieval import index_default_mode, make_retriever
    from hybrid_search.retrieval.base import visible_query

    visible_query(query, max_chars=sys.maxsize)  # nothing but spaces or control characters: the query is empty
    if len(indices or []) > 1 or as_json or path:
        return search_folders(obj, query, mode, k, lines, path, as_json, indices or [obj.index])
    if indices:
        obj.index = indices[0]
    try:
        client = obj.client()
        index = obj.require_index(client)
        mode = mode or index_default_mode(client, index, paths=obj.paths)
        ranking = make_retriever(client, index, mode, paths=obj.paths).search(query, k=k)
    except KeyboardInterrupt:  # nothing to resume in a search
        fail("interrupted", code=130)
    if not ranking.hits:
        click.echo("no results")
    for rank, hit in enumerate(ranking.hits, start=1):
        src = hit.source
        click.secho(f"{rank:>3}. {src.get('func_name')}", bold=True, nl=False)
        click.echo(f"  {src.get('repo')}/{src.get('path')}:{src.get('start_line', 0)}  score {hit.score:.2f}")
        click.echo(f"     {hit.url}")
        for line in src.get("code", "").splitlines()[: 4 if lines is None else lines]:
            click.echo(f"     | {line}")


def search_folders(obj: Context, query, mode, k, lines, path, as_json: bool, names: list[str]) -> None:
    """Several aliases searched as one, a search under a path, or any search as JSON (agent/search.py)."""
    from hybrid_search.agent.folders import folder_of_alias
    from hybrid_search.agent.search import Searcher

    client = obj.client()
    searcher = Searcher(client, [folder_of_alias(client, name) for name in names], obj.paths)
    try:
        answer = searcher.search(query, k=k, mode=mode, path=path, snippet_lines=snippet_lines(lines, as_json))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
        return
    show_units(answer.results, labelled=len(names) > 1)


def snippet_lines(asked: int | None, as_json: bool) -> int:
    """Lines per snippet: as asked, else 4 on a terminal and SNIPPET_LINES for an agent reading JSON."""
    return asked if asked is not None else SNIPPET_LINES if as_json else 4


def show_units(units, labelled: bool) -> None:
    if not units:
        click.echo("no results")
    for unit in units:
        where = f"{unit.folder}: " if labelled else ""
        click.secho(f"{unit.rank:>3}. {unit.name}", bold=True, nl=False)
        click.echo(f"  {where}{unit.path}:{unit.start_line}-{unit.end_line} ({unit.kind})  score {unit.score:.2f}")
        for line in unit.snippet.splitlines():
            click.echo(f"     | {line}")
        if unit.lines_omitted:
            click.echo(f"     | ... {unit.lines_omitted} more lines")


@click.command("related")
@click.argument("location", metavar="PATH:LINE")
@k_option(10, "Results to show.")
@snippet_option
@json_option
@indices_option
@click.pass_obj
def related_cmd(obj: Context, location: str, k: int, lines: int | None, as_json: bool, indices):
    """Code similar to the unit (function, method, class or module code) at PATH:LINE, the unit itself left out.

    PATH is absolute or relative to the indexed folder; --index names the folders to look in.
    """
    from hybrid_search.agent.folders import folder_of_alias
    from hybrid_search.agent.search import Searcher

    path, line = parse_location(location)
    client = obj.client()
    searcher = Searcher(client, [folder_of_alias(client, name) for name in indices or [obj.index]], obj.paths)
    answer = searcher.related(path, line, k=k, snippet_lines=snippet_lines(lines, as_json))
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
        return
    target = answer.target
    click.echo(
        f"like {target.name} ({target.kind}, {target.path}:{target.start_line}-{target.end_line}), by {answer.method}:"
    )
    show_units(answer.results, labelled=len(indices or []) > 1)


def parse_location(location: str) -> tuple[str, int]:
    """`path/to/file.py:42` -> ("path/to/file.py", 42)."""
    path, _, line = location.rpartition(":")
    if not path or not line.isdigit():
        raise HybridError(f"expected PATH:LINE (as in src/app.py:42), got {location!r}")
    return path, int(line)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for this Host name (repeat for more); only localhost, 127.0.0.1, [::1] and "
    "--host are answered otherwise, so that no other site can read your code through a DNS-rebinding page. "
    "'*' answers any name.",
)
@data_option
@index_option
@click.pass_obj
def serve_cmd(obj: Context, host: str, port: int, allow_hosts: tuple[str, ...], data: Path | None):
    """Web search page at http://HOST:PORT/ and JSON API at /api/search (schema: /openapi.json). Needs the web extra.

    When the data folder has annotationStore.csv, an annotated query shows its grades and NDCG.
    """
    from hybrid_search.config import default_data_dir

    try:
        from hybrid_search.web.app import create_app
        from hybrid_search.web.server import serve
    except ImportError as exc:
        raise HybridError(f"`hybrid serve` needs the web extra ({exc.name} is missing): pip install -e '.[web]'")
    # A wildcard address names no host: requests are answered for the loopback names and --allow-host only.
    named = [] if host in ("0.0.0.0", "::", "") else [host]
    app = create_app(
        obj.settings, obj.index, data or default_data_dir(), paths=obj.paths, allowed_hosts=[*named, *allow_hosts]
    )
    serve(app, host, port)


def register(cli: click.Group) -> None:
    cli.add_command(search_cmd)
    cli.add_command(related_cmd)
    cli.add_command(serve_cmd)
