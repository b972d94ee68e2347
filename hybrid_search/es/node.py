"""The local single-node Elasticsearch on 127.0.0.1: its config, start, stop, status and the heap policy.

The install comes from `es.install`. When called as root the node runs as an unprivileged user (ES refuses
to run as root). The caller says where the node lives (`NodePaths`) and how large its heap is: this module
reads neither the corpus nor the environment, so a test node and `hybrid es up` differ only in arguments.
A cluster of several local nodes (es/cluster.py) starts each node with the functions here.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hybrid_search import HybridError
from hybrid_search.es.install import ES_BUILD_HASH, ES_VERSION, install, install_dir, is_installed

UNPRIVILEGED_USER = "nobody"
_HEAP = re.compile(r"[1-9][0-9]*[kmgKMG]?")


@dataclass(frozen=True)
class NodePaths:
    """Folders of the install and of the node's own state.

    `shared_install` lets another node (a test node) reuse an existing install instead of unpacking its own.
    """

    home: Path
    shared_install: Path | None = None
    name: str = "node"  # its folder under `home`: `node` for the single node, `node-1` ... in a cluster

    @property
    def install(self) -> Path:
        return self.shared_install or install_dir(self.home)

    @property
    def node(self) -> Path:
        return self.home / self.name

    @property
    def config(self) -> Path:
        return self.node / "config"

    @property
    def data(self) -> Path:
        return self.node / "data"

    @property
    def logs(self) -> Path:
        return self.node / "logs"

    @property
    def pidfile(self) -> Path:
        return self.node / "es.pid"

    @property
    def statefile(self) -> Path:
        return self.node / "node.json"


def default_heap(corpus_bytes: int | None, total_memory_bytes: int) -> str:
    """The JVM heap for a corpus of `corpus_bytes` (gzipped) on a machine with `total_memory_bytes`. Pure.

    Postings and HNSW graphs live off-heap in the page cache, so the heap grows slowly with the corpus: the
    366k-function shared corpus (54 MB gzipped) indexes and serves with vectors in 1 GB (docs/benchmarks.md).
    512 MB below 20 MB of corpus, 1 GB below 200 MB, 2 GB above; 1 GB when no corpus is known. Never more
    than a quarter of the memory, which leaves the rest to the page cache, and never below 256 MB.

    Example:
        >>> default_heap(54 * 2**20, 16 * 2**30)
        '1024m'
    """
    if corpus_bytes is None:
        mb = 1024
    else:
        mb = 512 if corpus_bytes < 20 * 2**20 else 1024 if corpus_bytes < 200 * 2**20 else 2048
    memory_mb = total_memory_bytes // 2**20
    return f"{max(256, min(mb, memory_mb // 4))}m"


def up(
    p: NodePaths,
    *,
    heap: str,
    port: int = 9200,
    timeout: float = 180.0,
    echo=print,
    settings: dict[str, str] | None = None,
) -> str:
    """Start the node at `p` if it is not running; return its URL. Idempotent.

    Args:
        p: the node's folders (and the install it uses, installed here on first use).
        heap: JVM heap such as `512m` or `2g`, chosen by the caller; unused when the node already runs.
        settings: lines of elasticsearch.yml to add or override (a test node with a small
            indexing-pressure limit, say).
    """
    if not _HEAP.fullmatch(heap):
        raise HybridError(f"heap '{heap}' is not a JVM size such as 512m or 2g")
    url = f"http://127.0.0.1:{port}"
    pid = running_pid(p)
    if pid is not None:
        info = wait_healthy(url, pid, timeout, p)
        echo(f"Elasticsearch {info['version']['number']} already running at {url} (pid {pid})")
        return url
    if _http_json(url) is not None:
        raise HybridError(f"port {port} is already taken by a server this tool did not start; use --port or --es-url")
    install(p.install, echo=echo)
    write_config(p, heap, {"discovery.type": "single-node", "http.port": str(port), **(settings or {})})
    echo(f"Starting Elasticsearch {ES_VERSION} on {url} (heap {heap}) ...")
    pid = launch(p, url, heap)
    info = wait_healthy(url, pid, timeout, p)
    echo(
        f"Elasticsearch {info['version']['number']} (build {info['version']['build_hash'][:7]}) "
        f"is up at {url}, pid {pid}"
    )
    return url


def launch(p: NodePaths, url: str, heap: str) -> int:
    """Start the node at `p` (configured by `write_config`) in the background; its pid once it wrote it."""
    env = {**os.environ, "ES_PATH_CONF": str(p.config), "ES_JAVA_HOME": str(p.install / "jdk")}
    env.pop("JAVA_HOME", None)
    command = [str(p.install / "bin" / "elasticsearch"), "-d", "-p", str(p.pidfile)]
    if os.geteuid() == 0:
        _hand_over_to_unprivileged_user(p)
        command = ["setpriv", f"--reuid={UNPRIVILEGED_USER}", "--regid=nogroup", "--clear-groups", *command]
    p.pidfile.unlink(missing_ok=True)
    result = subprocess.run(command, env=env, cwd=p.node, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HybridError(
            f"Elasticsearch failed to start (exit {result.returncode}); see {p.logs}: {result.stderr.strip()[-300:]}"
        )
    pid = _wait_for_pidfile(p, timeout=120)
    p.statefile.write_text(json.dumps({"pid": pid, "url": url, "heap": heap}))
    return pid


def down(p: NodePaths, echo=print, quiet_if_none: bool = False) -> bool:
    """Stop the node this tool started (only that pid). Returns False if none was running."""
    pid = running_pid(p)
    if pid is None:
        if not quiet_if_none:
            echo("No Elasticsearch started by hybrid is running")
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    p.pidfile.unlink(missing_ok=True)
    echo(f"Stopped Elasticsearch {'' if p.name == 'node' else p.name + ' '}(pid {pid})")
    return True


def status(p: NodePaths) -> dict:
    """What is installed and running, for `hybrid es status`."""
    pid = running_pid(p)
    state = json.loads(p.statefile.read_text()) if p.statefile.exists() else {}
    info = _http_json(state["url"]) if pid and "url" in state else None
    return {
        "home": str(p.home),
        "installed": is_installed(p.install),
        "pid": pid,
        "url": state.get("url") if pid else None,
        "heap": state.get("heap") if pid else None,
        "version": info["version"]["number"] if info else None,
        "data": str(p.data),
    }


def running_pid(p: NodePaths) -> int | None:
    """The pid of the node at `p` if it runs (a stale pidfile reads as None)."""
    try:
        pid = int(p.pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) and _is_elasticsearch(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_elasticsearch(pid: int) -> bool:
    # Guard against a stale pidfile whose pid now belongs to another process.
    try:
        return b"org.elasticsearch" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def write_config(p: NodePaths, heap: str, settings: dict[str, str]) -> None:
    """The node's config folder: the shipped log4j and JVM options (paths made absolute), its heap, and an
    elasticsearch.yml of the settings every local node shares, then `settings` (port, discovery ...)."""
    for folder in (p.config, p.data, p.logs, p.config / "jvm.options.d"):
        folder.mkdir(parents=True, exist_ok=True)
    shipped = p.install / "config"
    for name in ("log4j2.properties", "jvm.options"):
        shutil.copy(shipped / name, p.config / name)
    # The shipped jvm.options writes GC logs and heap dumps to relative paths: make them absolute.
    jvm = (p.config / "jvm.options").read_text()
    jvm = jvm.replace("-XX:HeapDumpPath=data", f"-XX:HeapDumpPath={p.data}")
    jvm = jvm.replace("file=logs/gc.log", f"file={p.logs}/gc.log")
    jvm = jvm.replace("-XX:ErrorFile=logs/", f"-XX:ErrorFile={p.logs}/")
    (p.config / "jvm.options").write_text(jvm)
    (p.config / "jvm.options.d" / "heap.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
    yml = {
        "cluster.name": "hybrid-search",
        "node.name": "hybrid-local",
        "network.host": "127.0.0.1",
        "path.data": str(p.data),
        "path.logs": str(p.logs),
        "xpack.security.enabled": "false",
        "xpack.ml.enabled": "false",
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "action.destructive_requires_name": "true",
        # A write to a missing index fails instead of creating it with dynamic mappings (a version deleted
        # mid-build); bulk writes also require an alias (es/indexing.py), which covers any other cluster.
        "action.auto_create_index": "false",
        **settings,
    }
    (p.config / "elasticsearch.yml").write_text("".join(f"{key}: {value}\n" for key, value in yml.items()))


def _hand_over_to_unprivileged_user(p: NodePaths) -> None:
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    for parent in [p.home, *p.home.parents]:
        if parent.stat().st_mode & 0o001 == 0:
            raise HybridError(
                f"{parent} is not traversable by user {UNPRIVILEGED_USER}; set HYBRID_HOME to a folder outside it"
            )
    for folder in (p.node,):
        for dirpath, dirnames, filenames in os.walk(folder):
            os.chown(dirpath, user.pw_uid, user.pw_gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), user.pw_uid, user.pw_gid)


def _wait_for_pidfile(p: NodePaths, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = running_pid(p)
        if pid is not None:
            return pid
        time.sleep(0.3)
    raise HybridError(f"Elasticsearch did not write its pid file; see the logs in {p.logs}")


def wait_healthy(url: str, pid: int, timeout: float, p: NodePaths, nodes: int = 1) -> dict:
    """Wait for HTTP and a yellow cluster of `nodes` nodes; check it is the official 8.12.2 build."""
    deadline = time.monotonic() + timeout
    query = f"wait_for_status=yellow&wait_for_nodes=%3E%3D{nodes}&timeout=1s"  # >=N: a bare N means exactly N
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise HybridError(f"Elasticsearch (pid {pid}) exited during start-up; see the logs in {p.logs}")
        info = _http_json(url)
        health = _http_json(f"{url}/_cluster/health?{query}") if info else None
        if info and health and health.get("status") in ("yellow", "green") and not health.get("timed_out"):
            _check_build(info)
            return info
        time.sleep(1)
    raise HybridError(f"Elasticsearch at {url} was not healthy after {timeout:.0f}s; see the logs in {p.logs}")


def _check_build(info: dict) -> None:
    version = info.get("version", {})
    if version.get("number") != ES_VERSION or version.get("build_hash") != ES_BUILD_HASH:
        raise HybridError(
            f"unexpected Elasticsearch build {version.get('number')} / {version.get('build_hash')}: "
            f"expected the official {ES_VERSION} ({ES_BUILD_HASH[:7]})"
        )


def _http_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
