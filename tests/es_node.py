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
