"""A local cluster of N Elasticsearch nodes on 127.0.0.1, from the same install as the single node.

Node `node-i` (i from 1) keeps its config, data and logs in `<home>/node-i`, answers HTTP on
`http_port + i - 1` and talks to the others on `transport_port + i - 1`; all find each other through
`discovery.seed_hosts` on loopback. `cluster.initial_master_nodes` is written only until the cluster first
forms and is then removed from every node's config, as Elasticsearch requires (a node restarted with it
could bootstrap a second cluster). The layout is kept in `<home>/cluster.json`, so that one node can be
stopped and started alone, and `hybrid es down` stops them all.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hybrid_search import HybridError
from hybrid_search.es import node
from hybrid_search.es.install import ES_VERSION, install, install_dir

STATE_FILE = "cluster.json"


@dataclass(frozen=True)
class ClusterSpec:
    """How many nodes, where they listen, their heap and any extra elasticsearch.yml lines.

    `settings`: lines every node adds (a test cluster's shorter fault-detection timeouts, say).
    """

    nodes: int
    heap: str
    http_port: int = 9200
    transport_port: int = 9300
    name: str = "hybrid-search"
    settings: dict[str, str] = field(default_factory=dict)
    formed: bool = False  # the cluster formed once: no bootstrap setting any more

    def names(self) -> list[str]:
        return [f"node-{i}" for i in range(1, self.nodes + 1)]

    def http(self, name: str) -> int:
        return self.http_port + self.names().index(name)

    def transport(self, name: str) -> int:
        return self.transport_port + self.names().index(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.http(name)}"

    def urls(self) -> list[str]:
        return [self.url(name) for name in self.names()]

    def node_settings(self, name: str) -> dict[str, str]:
        """elasticsearch.yml lines of one node (on top of those every local node has, es/node.py). Pure."""
        seeds = ", ".join(f'"127.0.0.1:{self.transport(other)}"' for other in self.names())
        yml = {
            "cluster.name": self.name,
            "node.name": name,
            "http.port": str(self.http(name)),
            "transport.port": str(self.transport(name)),
            "discovery.seed_hosts": f"[{seeds}]",
        }
        if not self.formed:
            yml["cluster.initial_master_nodes"] = "[" + ", ".join(f'"{n}"' for n in self.names()) + "]"
        return {**yml, **self.settings}


def node_paths(home: Path, name: str, shared_install: Path | None = None) -> node.NodePaths:
    return node.NodePaths(home, shared_install=shared_install, name=name)


def read_spec(home: Path) -> ClusterSpec | None:
    """The cluster `hybrid es up --nodes N` made under `home`, if any."""
    try:
        return ClusterSpec(**json.loads((home / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None


def _write_spec(home: Path, spec: ClusterSpec) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / STATE_FILE).write_text(json.dumps(asdict(spec), indent=1))


def up(
    home: Path,
    spec: ClusterSpec,
    *,
    shared_install: Path | None = None,
    timeout: float = 300.0,
    echo=print,
) -> list[str]:
    """Start every node of `spec` that is not running and wait until all N have joined one cluster.
    Idempotent; returns the nodes' URLs.

    A cluster made before with another node count is refused (its data folders belong to that cluster).
    """
    known = read_spec(home)
    if known and known.nodes != spec.nodes:
        raise HybridError(
            f"a {known.nodes}-node cluster already lives in {home}; stop it (`hybrid es down`) and remove "
            f"its node-* folders to make a {spec.nodes}-node one"
        )
    if known:
        spec = ClusterSpec(**{**asdict(spec), "formed": known.formed})
    _refuse_beside_single_node(home, shared_install)
    install(shared_install or install_dir(home), echo=echo)
    _write_spec(home, spec)
    # Side by side: a node waits (up to 30 s) at start-up for the others to form the cluster with it.
    with ThreadPoolExecutor(spec.nodes) as pool:
        started = pool.map(lambda name: _start(home, spec, name, shared_install, echo), spec.names())
        pids = dict(zip(spec.names(), started))
    for name, pid in pids.items():
        node.wait_healthy(spec.url(name), pid, timeout, node_paths(home, name, shared_install), nodes=spec.nodes)
    if not spec.formed:
        forget_bootstrap(home, spec, shared_install)
    echo(f"Elasticsearch {ES_VERSION}: cluster '{spec.name}' of {spec.nodes} nodes is up at {', '.join(spec.urls())}")
    return spec.urls()


def forget_bootstrap(home: Path, spec: ClusterSpec, shared_install: Path | None = None) -> ClusterSpec:
    """Once formed, remove `cluster.initial_master_nodes` from every node's config (read at the next start)."""
    formed = ClusterSpec(**{**asdict(spec), "formed": True})
    for name in formed.names():
        paths = node_paths(home, name, shared_install)
        node.write_config(paths, formed.heap, formed.node_settings(name))
    _write_spec(home, formed)
    return formed


def _start(home: Path, spec: ClusterSpec, name: str, shared_install: Path | None, echo) -> int:
    paths = node_paths(home, name, shared_install)
    if (pid := node.running_pid(paths)) is not None:
        echo(f"{name} already running at {spec.url(name)} (pid {pid})")
        return pid
    for port in (spec.http(name), spec.transport(name)):
        if _answers(port):
            raise HybridError(
                f"port {port} ({name}) is already taken by a server this tool did not start; "
                "stop the single node first (`hybrid es down`) or choose other ports (--port, --transport-port)"
            )
    node.write_config(paths, spec.heap, spec.node_settings(name))
    echo(f"Starting {name} on {spec.url(name)} (transport {spec.transport(name)}, heap {spec.heap}) ...")
    return node.launch(paths, spec.url(name), spec.heap)


def _refuse_beside_single_node(home: Path, shared_install: Path | None) -> None:
    single = node.NodePaths(home, shared_install=shared_install)
    if node.running_pid(single) is not None:
        raise HybridError("the single local node is running: stop it with `hybrid es down` before starting a cluster")


def _answers(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_node(home: Path, name: str, *, shared_install: Path | None = None, timeout: float = 300.0, echo=print) -> int:
    """Start one node of the cluster again (after `stop_node` or a crash) and wait until it has joined."""
    spec = _require(home, name)
    pid = _start(home, spec, name, shared_install, echo)
    paths = node_paths(home, name, shared_install)
    node.wait_healthy(spec.url(name), pid, timeout, paths, nodes=1)
    _wait_joined(spec.url(name), spec.name, timeout, paths)
    echo(f"{name} is up at {spec.url(name)} (pid {pid})")
    return pid


def stop_node(home: Path, name: str, *, shared_install: Path | None = None, echo=print) -> bool:
    """Stop one node (SIGTERM, then SIGKILL after a minute): the others keep serving if replicas allow."""
    _require(home, name)
    return node.down(node_paths(home, name, shared_install), echo=echo)


def signal_node(home: Path, name: str, sig: int, *, shared_install: Path | None = None) -> int:
    """Send `sig` to one node's process (SIGKILL: a crash, SIGSTOP/SIGCONT: a long pause). Returns its pid."""
    _require(home, name)
    pid = node.running_pid(node_paths(home, name, shared_install))
    if pid is None:
        raise HybridError(f"{name} is not running")
    os.kill(pid, sig)
    return pid


def down(home: Path, *, shared_install: Path | None = None, echo=print) -> int:
    """Stop every node of the cluster at `home` (only those pids). Returns how many were running."""
    spec = read_spec(home)
    if spec is None:
        return 0
    stopped = 0
    for name in spec.names():
        paths = node_paths(home, name, shared_install)
        pid = node.running_pid(paths)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)  # a paused node cannot shut down
        stopped += node.down(paths, echo=echo, quiet_if_none=True)
    return stopped


def status(home: Path, *, shared_install: Path | None = None) -> list[dict]:
    """Each node's name, URL, pid (None: not running) and heap, from the folders (no request made)."""
    spec = read_spec(home)
    if spec is None:
        return []
    rows = []
    for name in spec.names():
        pid = node.running_pid(node_paths(home, name, shared_install))
        rows.append({"name": name, "url": spec.url(name), "pid": pid, "heap": spec.heap})
    return rows


def _require(home: Path, name: str) -> ClusterSpec:
    spec = read_spec(home)
    if spec is None:
        raise HybridError(f"no local cluster in {home}; start one with `hybrid es up --nodes 3`")
    if name not in spec.names():
        raise HybridError(f"no node {name!r} in the local cluster (its nodes: {', '.join(spec.names())})")
    return spec


def _wait_joined(url: str, cluster: str, timeout: float, paths: node.NodePaths) -> None:
    """Wait until the node at `url` knows an elected master (it joined the cluster)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_cat/master?format=json&local=true", timeout=2) as response:
                if json.loads(response.read()):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.5)
    raise HybridError(f"the node at {url} did not join cluster {cluster} within {timeout:.0f}s; see {paths.logs}")
