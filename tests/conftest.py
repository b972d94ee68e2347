"""Shared fixtures: a real Elasticsearch node (started once per session) and small generated data.

Tests talk to the real node. If HYBRID_ES_URL answers it is used; otherwise the local node is installed
(once, cached) and started with `hybrid es up`'s code. An absent ES is a failure, never a skip.
"""

from __future__ import annotations

import csv
import gzip
import json
import uuid
from pathlib import Path

import pytest

from hybrid_search import HybridError
from hybrid_search.config import EsSettings, Paths, es_heap_override, home_dir
from hybrid_search.es.node import NodePaths, up
from hybrid_search.es.client import connect

SHARED = Path(__file__).resolve().parents[2] / "shared" / "csn-python"


@pytest.fixture(scope="session")
def es_settings() -> EsSettings:
    settings = EsSettings.from_env()
    try:
        connect(settings, request_timeout=5)
    except HybridError:
        # 512 MB, not the corpus-sized heap: tests index tiny corpora and share the machine.
        url = up(NodePaths(home_dir()), heap=es_heap_override() or "512m", echo=lambda *_: None)
        settings = EsSettings.from_env(url)
    return settings


@pytest.fixture
def paths(tmp_path) -> Paths:
    """The tool's folders for one test, all under its tmp_path (models, caches, tuned choices, runs)."""
    home = tmp_path / "home"
    return Paths(home=home, models=home / "models", cache=home / "cache", tuned=home / "tuned", runs=tmp_path / "runs")


@pytest.fixture(scope="session")
def es(es_settings):
    return connect(es_settings)


@pytest.fixture
def index_name(es):
    """A unique alias name for one test; every index it names is deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    delete_indices(es, name)


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


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    return write_tiny_data(tmp_path)


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


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny attention-pooled encoder trained on `synthetic_pairs` (a few seconds): pairs, encoder, metadata, folder."""
    from hybrid_search.encoder.models import EncoderConfig
    from hybrid_search.encoder.train import TrainConfig, train_encoder

    pairs = synthetic_pairs()
    out = tmp_path_factory.mktemp("model") / "tiny"
    config = TrainConfig(
        encoder=EncoderConfig(kind="attn", dim=32, dropout=0.0), epochs=15, batch_size=16, lr=1e-2, min_count=1
    )
    encoder, metadata = train_encoder(pairs, pairs[:32], config, out, progress=False, echo=lambda *_: None)
    return pairs, encoder, metadata, out


@pytest.fixture(scope="session")
def tiny_vector_index(es, tmp_path_factory, trained):
    """(alias, data folder) of the tiny data indexed with the tiny encoder's vectors, so that dense and hybrid
    run on it; built once for the tests that only read it."""
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.pipeline.build import build_index

    data = write_tiny_data(tmp_path_factory.mktemp("tiny-data"))
    alias = f"test-{uuid.uuid4().hex[:10]}"
    build_index(es, data, alias, progress=False, encoder=Encoder.load(trained[3]))
    yield alias, data
    delete_indices(es, alias)


def pair_records(pairs, partition: str = "test") -> list[dict]:
    """Corpus records (shared-shard format) of the functions behind `pairs`."""
    fields = ("url", "repo", "path", "func_name", "code", "docstring")
    return [{**{name: getattr(p.function, name) for name in fields}, "partition": partition} for p in pairs]


@pytest.fixture(scope="session")
def second_node():
    """A throw-away node of our own (tests/es_node.py), for tests that stop, kill or restart one."""
    from es_node import ThrowawayNode

    node = ThrowawayNode()
    try:
        node.up()
        yield node
    finally:
        node.remove()
