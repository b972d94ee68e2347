"""`hybrid mcp`: the MCP server for coding agents (agent/server.py)."""

from __future__ import annotations

from pathlib import Path

import click

from hybrid_search import HybridError
from hybrid_search.cli.common import Context, comma_list, encoder_option


@click.command("mcp")
@click.argument("folders", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--index",
    "names",
    default=None,
    metavar="NAME[,NAME...]",
    help="The alias of each folder, in order [default: each folder's name].",
)
@encoder_option("Vectors for a folder indexed for the first time [default: nbow when it is trained, else none].")
@click.pass_obj
def mcp_cmd(obj: Context, folders: tuple[Path, ...], names: str | None, encoder: str | None):
    """Serve code search to a coding agent over MCP (stdio): tools search, find_related and index_status.

    Each FOLDER [default: the current folder] is indexed on start (incrementally, as `hybrid index --source`)
    and kept current while the server runs. stdout carries the protocol only; logs go to stderr.
    See docs/agents.md for the client configuration.
    """
    import logging
    import sys

    from hybrid_search.agent.server import serve

    roots = list(dict.fromkeys(folder.resolve() for folder in folders or (Path.cwd(),)))
    for root in roots:
        if not root.is_dir():
            raise HybridError(f"folder not found: {root}")
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="hybrid mcp: %(message)s")
    logging.getLogger("hybrid_search.agent").setLevel(logging.INFO)
    serve(roots, comma_list(names), obj.settings, obj.paths, encoder)


def register(cli: click.Group) -> None:
    cli.add_command(mcp_cmd)
