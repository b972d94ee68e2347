"""`hybrid es ...`: the local single-node Elasticsearch."""

from __future__ import annotations

import click

from hybrid_search import HybridError
from hybrid_search.cli.common import Context


@click.group("es")
def es():
    """Manage a local single-node Elasticsearch (installed from npm, bound to 127.0.0.1)."""


@es.command("up")
@click.option("--port", default=9200, show_default=True, help="HTTP port on 127.0.0.1.")
@click.option(
    "--heap",
    default=None,
    help="JVM heap, e.g. 1g [env HYBRID_ES_HEAP; default: sized from the corpus, see docs/benchmarks.md].",
)
def es_up(port: int, heap: str | None):
    """Install ES 8.12.2 once (sha512-checked), start it if needed and wait until healthy. Idempotent."""
    from hybrid_search.config import default_data_dir
    from hybrid_search.es import node
    from hybrid_search.pipeline.local_node import local_heap

    node.up(_node_paths(), heap=heap or local_heap(default_data_dir()), port=port, echo=click.echo)


@es.command("down")
def es_down():
    """Stop the node started by `hybrid es up` (only that process)."""
    from hybrid_search.es import node

    node.down(_node_paths(), echo=click.echo)


@es.command("status")
@click.pass_obj
def es_status(obj: Context):
    """Say what is installed and running, and whether --es-url answers."""
    from hybrid_search.es import node
    from hybrid_search.es.client import connect

    state = node.status(_node_paths())
    click.echo(f"local install: {'yes' if state['installed'] else 'no'} ({state['home']})")
    if state["pid"]:
        click.echo(
            f"local node:    running, pid {state['pid']}, {state['url']}, ES {state['version']}, heap {state['heap']}"
        )
        click.echo(f"data path:     {state['data']}")
    else:
        click.echo("local node:    not running (start it with `hybrid es up`)")
    try:
        info = connect(obj.settings, request_timeout=5).info()
        click.echo(
            f"--es-url:      {obj.settings.url} answers: ES {info['version']['number']}, cluster {info['cluster_name']}"
        )
    except HybridError:
        click.echo(f"--es-url:      {obj.settings.url} does not answer")


def _node_paths():
    from hybrid_search.config import home_dir
    from hybrid_search.es.node import NodePaths

    return NodePaths(home_dir())


def register(cli: click.Group) -> None:
    cli.add_command(es)
