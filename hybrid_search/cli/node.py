"""`hybrid es ...`: the local Elasticsearch, one node (the default) or a cluster of several."""

from __future__ import annotations

import click

from hybrid_search import HybridError
from hybrid_search.cli.common import Context


@click.group("es")
def es():
    """Manage a local Elasticsearch (installed from npm, bound to 127.0.0.1): one node, or a cluster."""


@es.command("up")
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="Nodes: 1 is a single node; more make a cluster (node-1 ... node-N), one folder and port pair each.",
)
@click.option("--port", default=9200, show_default=True, help="HTTP port on 127.0.0.1 (a cluster's node-i: PORT+i-1).")
@click.option(
    "--transport-port",
    default=9300,
    show_default=True,
    help="A cluster's node-to-node port of node-1 (node-i: this+i-1); unused by a single node.",
)
@click.option(
    "--heap",
    default=None,
    help="JVM heap of each node, e.g. 1g [env HYBRID_ES_HEAP; default: sized from the corpus, see docs/benchmarks.md].",
)
def es_up(nodes: int, port: int, transport_port: int, heap: str | None):
    """Install ES 8.12.2 once (sha512-checked), start it if needed and wait until healthy. Idempotent."""
    from hybrid_search.config import default_data_dir, home_dir
    from hybrid_search.es import cluster, node
    from hybrid_search.pipeline.local_node import local_heap

    heap = heap or local_heap(default_data_dir())
    if nodes == 1:
        node.up(_node_paths(), heap=heap, port=port, echo=click.echo)
        return
    spec = cluster.ClusterSpec(nodes=nodes, heap=heap, http_port=port, transport_port=transport_port)
    urls = cluster.up(home_dir(), spec, echo=click.echo)
    click.echo(f"use it with: --es-url {','.join(urls)}  (or HYBRID_ES_URL)")


@es.command("down")
def es_down():
    """Stop the node, or every node of the cluster, started by `hybrid es up` (only those processes)."""
    from hybrid_search.config import home_dir
    from hybrid_search.es import cluster, node

    stopped = cluster.down(home_dir(), echo=click.echo)
    node.down(_node_paths(), echo=click.echo, quiet_if_none=stopped > 0)


@es.command("stop-node")
@click.argument("name")
def es_stop_node(name: str):
    """Stop one node of the local cluster (NAME: node-1, node-2 ...); the others keep serving."""
    from hybrid_search.config import home_dir
    from hybrid_search.es import cluster

    if not cluster.stop_node(home_dir(), name, echo=click.echo):
        click.echo(f"{name} was not running")


@es.command("start-node")
@click.argument("name")
def es_start_node(name: str):
    """Start one node of the local cluster again and wait until it has joined."""
    from hybrid_search.config import home_dir
    from hybrid_search.es import cluster

    cluster.start_node(home_dir(), name, echo=click.echo)


@es.command("status")
@click.pass_obj
def es_status(obj: Context):
    """Say what is installed and running, each node of the cluster (role, heap) and how the alias's index is
    allocated (health, shards per node), and whether --es-url answers."""
    from hybrid_search.config import home_dir
    from hybrid_search.es import cluster, node
    from hybrid_search.es.client import connect
    from hybrid_search.es.health import describe_cluster

    state = node.status(_node_paths())
    click.echo(f"local install: {'yes' if state['installed'] else 'no'} ({state['home']})")
    if state["pid"]:
        click.echo(
            f"local node:    running, pid {state['pid']}, {state['url']}, ES {state['version']}, heap {state['heap']}"
        )
        click.echo(f"data path:     {state['data']}")
    for row in cluster.status(home_dir()):
        running = f"running, pid {row['pid']}" if row["pid"] else "stopped"
        click.echo(f"cluster node:  {row['name']} {row['url']} {running}, heap {row['heap']}")
    if not state["pid"] and not cluster.status(home_dir()):
        click.echo("local node:    not running (start it with `hybrid es up`)")
    try:
        client = connect(obj.settings, request_timeout=5)
        info = client.info()
        click.echo(
            f"--es-url:      {obj.settings.url} answers: ES {info['version']['number']}, cluster {info['cluster_name']}"
        )
    except HybridError:
        click.echo(f"--es-url:      {obj.settings.url} does not answer")
        return
    for line in describe_cluster(client, obj.index):
        click.echo(line)


def _node_paths():
    from hybrid_search.config import home_dir
    from hybrid_search.es.node import NodePaths

    return NodePaths(home_dir())


def register(cli: click.Group) -> None:
    cli.add_command(es)
