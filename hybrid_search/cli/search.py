"""`hybrid search` and `hybrid serve`: ranked functions in the terminal or on a web page."""

from __future__ import annotations

from pathlib import Path

import click

from hybrid_search import HybridError
from hybrid_search.cli.common import Context, data_option, fail, index_option, k_option
from hybrid_search.retrieval.base import MODES


@click.command("search")
@click.argument("query")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=None,
    help="Retrieval mode [default: hybrid when the index has vectors, else lexical, as on the page].",
)
@k_option(10, "Results to show.")
@click.option("--lines", type=click.IntRange(0, 100), default=4, show_default=True, help="Code lines shown per result.")
@index_option
@click.pass_obj
def search_cmd(obj: Context, query: str, mode: str | None, k: int, lines: int):
    """Search the index and print ranked functions."""
    from hybrid_search.retrieval import index_default_mode, make_retriever

    if not query.strip():
        raise HybridError("the query is empty")
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
        for line in src.get("code", "").splitlines()[:lines]:
            click.echo(f"     | {line}")


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
    cli.add_command(serve_cmd)
