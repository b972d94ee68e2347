"""Test data and small helpers, made by the tests themselves (fixtures stay in conftest.py)."""

from __future__ import annotations

import csv
import gzip
import json
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from tls_proxy import pump

SHARED = Path(__file__).resolve().parents[2] / "shared" / "csn-python"


def corpus_actions(functions, version: str, **options):
    """Bulk actions writing the corpus's documents into `version` through its load alias, as a build does."""
    from hybrid_search.es.documents import docs_of, index_actions
    from hybrid_search.es.indexing import load_alias

    return index_actions(docs_of(functions), load_alias(version), **options)


def delete_indices(es, alias: str) -> None:
    """Delete every index named after `alias`. The node refuses wildcard deletes
    (action.destructive_requires_name), so each index is named."""
    for index in es.indices.get(index=f"{alias}*", expand_wildcards="all"):
        es.indices.delete(index=index)


FUNCTIONS = [
    (
        "read_csv_file",
        "Read a CSV file into a list of rows.",
        "import csv\nwith open(path) as f:\n    return list(csv.reader(f))",
    ),
    (
        "parseJsonConfig",
        "Parse a JSON configuration file.",
        "import json\nwith open(path) as f:\n    return json.load(f)",
    ),
    (
        "Sorter.sort_strings",
        "Sort a list of strings alphabetically.",
        "items = list(items)\nitems.sort()\nreturn items",
    ),
    ("int_to_str", "Convert an integer to a string.", "value = int(value)\nreturn str(value)\n"),
    (
        "download_url",
        "Download a file from a url over HTTP.",
        "import urllib.request\nresponse = urllib.request.urlopen(url)\nreturn response.read()",
    ),
    (
        "PriorityQueue.push",
        "Push an item onto the priority queue.",
        "import heapq\nheapq.heappush(self.heap, (priority, item))\nself.size += 1",
    ),
]


def make_function(i: int, name: str, doc: str, body: str, partition: str = "train", repo: str = "acme/tools") -> dict:
    short = name.split(".")[-1]
    indented = "\n".join("    " + line for line in body.splitlines())
    code = f'def {short}(path, items=None, value=0, url="", priority=0, item=None):\n    """{doc}"""\n{indented}\n'
    url = f"https://github.com/{repo}/blob/{'a' * 40}/src/mod{i}.py#L{10 * i + 1}-L{10 * i + 6}"
    return {
        "url": url,
        "repo": repo,
        "sha": "a" * 40,
        "path": f"src/mod{i}.py",
        "func_name": name,
        "start_line": 10 * i + 1,
        "end_line": 10 * i + 6,
        "code": code,
        "docstring": doc,
        "partition": partition,
    }


def write_jsonl_gz(path: Path, records: list, raw_lines: list[bytes] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as out:
        for record in records:
            out.write(json.dumps(record).encode() + b"\n")
        for line in raw_lines:
            out.write(line + b"\n")
    return path


def write_tiny_data(tmp_path: Path) -> Path:
    """A data folder laid out like ../shared/csn-python: corpus shards, queries.csv, annotationStore.csv."""
    records = [make_function(i, *f) for i, f in enumerate(FUNCTIONS)]
    write_jsonl_gz(tmp_path / "corpus" / "functions-000.jsonl.gz", records[:4])
    write_jsonl_gz(tmp_path / "corpus" / "functions-001.jsonl.gz", records[4:])
    with (tmp_path / "queries.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["query"], ["read csv file"], ["priority queue"], ["convert int to string"]])
    with (tmp_path / "annotationStore.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Language", "Query", "GitHubUrl", "Relevance", "Notes"])
        writer.writerow(["Python", "read csv file", records[0]["url"], 3, ""])
        writer.writerow(["Python", "read csv file", records[1]["url"], 1, ""])
        writer.writerow(["Python", "priority queue", records[5]["url"], 3, ""])
        writer.writerow(["Python", "priority queue", records[5]["url"], 2, ""])
        writer.writerow(["Python", "convert int to string", records[3]["url"], 2, ""])
        writer.writerow(["Go", "read csv file", "https://github.com/x/y/blob/b/z.go#L1-L2", 3, ""])
    return tmp_path


VERBS = ["read", "write", "parse", "sort", "merge", "download", "compress", "encrypt"]
NOUNS = ["csv", "json", "image", "queue", "matrix", "socket", "archive", "token"]


def synthetic_pairs():
    """64 (docstring, code) pairs whose only link is shared vocabulary: learnable by any encoder."""
    from hybrid_search.data.pairs import make_pairs

    records = []
    for i, (verb, noun) in enumerate((v, n) for v in VERBS for n in NOUNS):
        body = f"handle = open_{noun}(source)\nresult = {verb}_impl(handle)\nreturn result"
        records.append(make_function(i, f"{verb}_{noun}", f"{verb.title()} the {noun} given by the caller.", body))
    from hybrid_search.data.corpus import function_from_record

    return list(make_pairs([function_from_record(r) for r in records], set()))


def pair_records(pairs, partition: str = "test") -> list[dict]:
    """Corpus records (shared-shard format) of the functions behind `pairs`."""
    fields = ("url", "repo", "path", "func_name", "code", "docstring")
    return [{**{name: getattr(p.function, name) for name in fields}, "partition": partition} for p in pairs]


@contextmanager
def serving(app, wait_s: float = 20):
    """`app` served by uvicorn in a thread, on a port the OS picked; yields its base url."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + wait_s
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(wait_s)
        sock.close()


def generated_corpus(folder: Path, n: int) -> Path:
    """`n` small distinct functions in two files: enough for a build to last a few seconds with small bulks."""
    records = [
        make_function(i, f"handler_{i}.process_item", f"Process item number {i} of the queue.", f"x = {i}\nreturn x")
        for i in range(n)
    ]
    write_jsonl_gz(folder / "corpus" / "a.jsonl.gz", records[: n // 2])
    write_jsonl_gz(folder / "corpus" / "b.jsonl.gz", records[n // 2 :])
    return folder


class TcpRelay:
    """A loopback port relaying bytes to `upstream` (host, port), which the test can close (connections are
    refused, as by a node that is restarting) and open again on the same port."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream, self.port = upstream, 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpRelay:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port, self._listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        with self._lock:
            sockets, self._open = [self._listener, *self._open], []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=pump, args=(source, target), daemon=True).start()


NOBODY = 65534  # uid and gid of the user `nobody`


def as_unprivileged(fn, *args, timeout_s: int = 60):
    """`fn(*args)` where folder permissions apply: as the user `nobody` in a forked child when the tests run as
    root (root reads any folder), else in this process. The child's result comes back pickled; an exception
    in it is raised here as a RuntimeError with its repr."""
    import os
    import pickle
    import signal

    if os.geteuid() != 0:
        return fn(*args)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, send the outcome, leave without running pytest's cleanup
        status = 0
        try:
            os.close(read)
            signal.alarm(timeout_s)  # a hang ends the child, and the test fails instead of waiting
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.environ["HOME"] = "/nonexistent"  # root's home is closed to nobody; git reads config there
            outcome = ("result", fn(*args))
        except BaseException as error:  # noqa: BLE001 - every failure goes back to the test
            outcome = ("error", repr(error))
        try:
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(outcome))
        except BaseException:  # noqa: BLE001 - the parent sees no answer
            status = 1
        os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as incoming:
        data = incoming.read()
    os.waitpid(pid, 0)
    if not data:
        raise RuntimeError("the unprivileged child died without an answer")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise RuntimeError(f"in the unprivileged child: {value}")
    return value
