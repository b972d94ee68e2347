"""A throw-away second Elasticsearch node for tests that stop, kill or restart a node.

The shared node behind the `es` fixture is never stopped. This one reuses the cached install (no second
download), keeps its state under `home_dir()/test-nodes/<uuid>` (a folder the unprivileged user the node
runs as can traverse, unlike pytest's mode-700 tmp folders) and is stopped and removed afterwards.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from dataclasses import dataclass, field

from hybrid_search.config import EsSettings, home_dir
from hybrid_search.es import node
from hybrid_search.es.client import connect


def _quiet(*_args) -> None:
    pass


def free_port(start: int = 9201, stop: int = 9299) -> int:
    """The first port from `start` nothing listens on (the shared node has 9200)."""
    for port in range(start, stop):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}-{stop}")


@dataclass
class ThrowawayNode:
    """A single node on its own port and folder, sharing the cached ES install."""

    settings: dict[str, str] = field(default_factory=dict)
    heap: str = "384m"

    def __post_init__(self):
        self.port = free_port()
        shared = node.NodePaths(home_dir())
        self.paths = node.NodePaths(home_dir() / "test-nodes" / uuid.uuid4().hex[:12], shared_install=shared.install)
        # Its own cluster name, so it can never be mistaken for (or join) the shared node.
        self.settings = {"cluster.name": f"hybrid-test-{self.port}", "node.name": "hybrid-test", **self.settings}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def es_settings(self) -> EsSettings:
        return EsSettings(url=self.url)

    def up(self) -> None:
        node.up(self.paths, heap=self.heap, port=self.port, echo=_quiet, settings=self.settings)

    def down(self) -> None:
        node.down(self.paths, echo=_quiet)

    def pid(self) -> int | None:
        return node.running_pid(self.paths)

    def client(self, request_timeout: float = 30):
        return connect(self.es_settings, request_timeout=request_timeout)

    def remove(self) -> None:
        """Stop the node (its own pid only) and delete its folder."""
        self.down()
        shutil.rmtree(self.paths.home, ignore_errors=True)


# Fault detection in seconds, not the defaults' tens of seconds, so that a killed or paused node leaves the
# cluster (and a new master is elected) within the test's time.
FAST_FAULT_DETECTION = {
    "cluster.fault_detection.follower_check.interval": "500ms",
    "cluster.fault_detection.follower_check.timeout": "2s",
    "cluster.fault_detection.follower_check.retry_count": "2",
    "cluster.fault_detection.leader_check.interval": "500ms",
    "cluster.fault_detection.leader_check.timeout": "2s",
    "cluster.fault_detection.leader_check.retry_count": "2",
}


# Transport ports above ES's default range (9300-9400): a node started with the default takes the first free
# port there, and would take a killed cluster node's port before that node is restarted.
TRANSPORT_OFFSET = 300


def free_port_block(count: int, start: int = 9201, stop: int = 9299, transport_offset: int = TRANSPORT_OFFSET) -> int:
    """The first port p from `start` with p .. p+count-1 and their transport ports (+offset) all free."""
    for port in range(start, stop - count + 1):
        wanted = [*range(port, port + count), *range(port + transport_offset, port + transport_offset + count)]
        if all(_free(candidate) for candidate in wanted):
            return port
    raise RuntimeError(f"no {count} free ports in {start}-{stop}")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class ThrowawayCluster:
    """A cluster of `nodes` local nodes on free ports in 9201-9299 (transport +300), sharing the cached
    install, with fast fault detection; stopped and removed afterwards."""

    nodes: int = 3
    heap: str = "384m"

    def __post_init__(self):
        from hybrid_search.es import cluster

        port = free_port_block(self.nodes)
        self.home = home_dir() / "test-nodes" / uuid.uuid4().hex[:12]
        self.install = node.NodePaths(home_dir()).install
        self.spec = cluster.ClusterSpec(
            nodes=self.nodes,
            heap=self.heap,
            http_port=port,
            transport_port=port + TRANSPORT_OFFSET,
            name=f"hybrid-test-cluster-{port}",
            settings=FAST_FAULT_DETECTION,
        )

    @property
    def names(self) -> list[str]:
        return self.spec.names()

    @property
    def es_settings(self) -> EsSettings:
        return EsSettings(url=",".join(self.spec.urls()))

    def up(self) -> None:
        from hybrid_search.es import cluster

        cluster.up(self.home, self.spec, shared_install=self.install, echo=_quiet)

    def client(self, request_timeout: float = 30):
        return connect(self.es_settings, request_timeout=request_timeout)

    def pid(self, name: str) -> int | None:
        from hybrid_search.es import cluster

        return node.running_pid(cluster.node_paths(self.home, name, self.install))

    def kill(self, name: str, sig: int) -> None:
        """Send `sig` to one node; after SIGKILL, return once the process is gone (it still holds its ports
        and data-folder lock for a moment, and a restart meanwhile fails)."""
        import signal
        import time

        from hybrid_search.es import cluster

        pid = cluster.signal_node(self.home, name, sig, shared_install=self.install)
        deadline = time.monotonic() + 30
        while sig == signal.SIGKILL and node._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def start(self, name: str) -> None:
        from hybrid_search.es import cluster

        cluster.start_node(self.home, name, shared_install=self.install, echo=_quiet)

    def remove(self) -> None:
        from hybrid_search.es import cluster

        cluster.down(self.home, shared_install=self.install, echo=_quiet)
        shutil.rmtree(self.home, ignore_errors=True)
