"""`hybrid index --source`: a fixture git repository indexed, changed by a second commit and indexed again,
against the real node: what is extracted, what each run counts and writes, and what the searches find."""

import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hybrid_search import HybridError
from hybrid_search.cli import cli
from hybrid_search.es import indexing
from hybrid_search.pipeline.source import PENDING, describe_sync, sync_source
from hybrid_search.pipeline.watch import watch_source
from hybrid_search.retrieval import available_modes, make_retriever

UTIL_1 = '''\
import csv


def read_rows(path):
    """Read a CSV file into a list of rows."""
    with open(path) as handle:
        return list(csv.reader(handle))


class Cache(object):
    """A tiny cache."""

    def get(self, key):
        """Return the cached value for a key."""
        return self.data.get(key)

    @property
    def size(self):
        return len(self.data)

    @size.setter
    def size(self, value):
        raise AttributeError("read only")
'''
# The second commit renames read_rows and adds a line above the class: its methods move down one line.
UTIL_2 = UTIL_1.replace("def read_rows(path):", "def parse_csv_rows(path):").replace(
    "class Cache(object):", "# A cache kept in memory.\nclass Cache(object):"
)
LEGACY = '''\
def shout(name):
    """Print a greeting in capitals (Python 2)."""
    print "HELLO", name.upper()
'''
BROKEN = "import os\n\ndef broken(:\n    pass\n"
EXTRA_1 = '''\
def keep_me():
    """Stays as it is."""
    return 1


def remove_me():
    """Deleted in the second commit."""
    return 2
'''
EXTRA_2 = EXTRA_1.split("\n\n\ndef remove_me")[0] + "\n"
STABLE = 'def untouched_fn(values):\n    """Sum the values."""\n    return sum(values)\n'


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def commit(folder: Path, message: str) -> None:
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path, index_name) -> Path:
    """A git repository at its first commit, in a folder named like the test's alias."""
    folder = tmp_path / index_name
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "test@example.com")
    git(folder, "config", "user.name", "Test")
    write(
        folder,
        {
            "pkg/util.py": UTIL_1,
            "pkg/legacy.py": LEGACY,
            "pkg/broken.py": BROKEN,
            "pkg/extra.py": EXTRA_1,
            "pkg/stable.py": STABLE,
            ".gitignore": "scratch/\n",
            "scratch/ignored.py": "def ignored():\n    pass\n",
        },
    )
    commit(folder, "one")
    return folder


def second_commit(folder: Path) -> None:
    write(folder, {"pkg/util.py": UTIL_2, "pkg/extra.py": EXTRA_2})
    commit(folder, "rename read_rows, delete remove_me")


def counts(report) -> tuple[int, int, int, int]:
    return report.added, report.updated, report.deleted, report.unchanged


def documents(es, alias: str) -> dict[str, dict]:
    """func_name -> the document (with _id and _seq_no) of every function in the index."""
    hits = es.search(index=alias, size=100, seq_no_primary_term=True)["hits"]["hits"]
    return {h["_source"]["func_name"]: {**h["_source"], "_id": h["_id"], "_seq_no": h["_seq_no"]} for h in hits}


@pytest.fixture
def tiny_encoder(trained):
    from hybrid_search.encoder.encoder import Encoder

    return Encoder.load(trained[3])


def test_a_checkout_is_indexed_then_only_what_changed_is_written(es, repo, index_name, paths, tiny_encoder):
    first = sync_source(es, repo, index_name, encoder=tiny_encoder, progress=False)
    assert first.created and first.index.startswith(f"{index_name}-v")
    assert first.files == 5 and first.read == 4 and first.python2 == 1
    assert counts(first) == (10, 0, 0, 0) and first.functions == 10
    assert first.failures == ["pkg/broken.py:3: invalid syntax"]
    assert "skipped pkg/broken.py:3: invalid syntax" in describe_sync(first)

    docs = documents(es, index_name)
    assert sorted(docs) == sorted(
        ["pkg.util", "read_rows", "Cache", "Cache.get", "Cache.size", "shout", "keep_me", "remove_me", "untouched_fn"]
    )  # the two Cache.size (getter and setter) are two documents under one name
    assert [docs[name]["kind"] for name in ("pkg.util", "read_rows", "Cache", "Cache.get")] == [
        "module",
        "function",
        "class",
        "method",
    ]
    assert (docs["Cache"]["start_line"], docs["Cache"]["end_line"], docs["Cache.size"]["parent"]) == (10, 23, "Cache")
    assert docs["pkg.util"]["code"] == "import csv" and docs["Cache"]["symbol"] == "Cache"
    read_rows = docs["read_rows"]
    assert (read_rows["path"], read_rows["start_line"], read_rows["end_line"]) == ("pkg/util.py", 4, 7)
    assert read_rows["url"] == f"{(repo / 'pkg/util.py').resolve().as_uri()}#L4-L7"
    assert read_rows["docstring"] == "Read a CSV file into a list of rows."
    assert read_rows["repo"] == index_name and read_rows["sha"] == git(repo, "rev-parse", "HEAD").strip()
    assert docs["shout"]["docstring"] == "Print a greeting in capitals (Python 2)."
    assert docs["shout"]["code"] == LEGACY.rstrip("\n")

    again = sync_source(es, repo, index_name, encoder=tiny_encoder, progress=False)
    assert not again.created and again.index == first.index
    assert counts(again) == (0, 0, 0, 10) and again.read == 0
    assert documents(es, index_name)["shout"]["_seq_no"] == docs["shout"]["_seq_no"]

    second_commit(repo)
    update = sync_source(es, repo, index_name, encoder=tiny_encoder, progress=False)
    assert update.index == first.index  # the live index, updated in place
    assert update.read == 2  # util.py and extra.py (broken.py is tried again and reported again)
    # +parse_csv_rows; Cache (its comment above it now part of it) and its 3 methods moved; -read_rows -remove_me
    assert counts(update) == (1, 4, 2, 4)
    assert update.failures == ["pkg/broken.py:3: invalid syntax"] and update.functions == 9
    after = documents(es, index_name)
    assert "read_rows" not in after and "remove_me" not in after
    assert (
        after["Cache.get"]["_id"] == docs["Cache.get"]["_id"]
        and after["Cache.get"]["start_line"] == docs["Cache.get"]["start_line"] + 1 == 14
    )
    assert after["Cache"]["start_line"] == 10 and after["Cache"]["code"].startswith("# A cache kept in memory.")
    for name in ("shout", "untouched_fn", "keep_me", "pkg.util"):  # not written: same sequence number
        assert after[name]["_seq_no"] == docs[name]["_seq_no"], name

    assert set(available_modes(es, index_name, paths=paths)) >= {"lexical", "dense", "hybrid"}
    for mode in ("baseline", "lexical", "dense", "hybrid"):
        hits = make_retriever(es, index_name, mode, paths=paths).search("parse csv rows", k=20).hits
        names = [hit.func_name for hit in hits]
        assert "parse_csv_rows" in names and "read_rows" not in names, (mode, names)
        if mode != "dense":  # the tiny encoder knows no such words; lexical modes must rank it first
            assert names[0] == "parse_csv_rows", (mode, names)


def test_an_update_cut_short_is_finished_by_the_next_run(es, repo, index_name):
    first = sync_source(es, repo, index_name, progress=False)
    # As a crash would leave it: util.py marked pending, one of its functions not written yet.
    meta = indexing.index_meta(es, first.index)
    es.indices.put_mapping(index=first.index, meta={**meta, "files": {**meta["files"], "pkg/util.py": PENDING}})
    es.delete(index=index_name, id=documents(es, index_name)["read_rows"]["_id"], refresh=True)

    resumed = sync_source(es, repo, index_name, progress=False)
    assert counts(resumed) == (1, 0, 0, 9) and resumed.read == 1 and resumed.functions == 10
    assert indexing.index_meta(es, first.index)["files"]["pkg/util.py"] != PENDING


def test_a_file_that_stops_parsing_keeps_its_functions_and_deleted_files_lose_theirs(es, repo, index_name):
    sync_source(es, repo, index_name, progress=False)
    (repo / "pkg" / "extra.py").write_text(EXTRA_1 + "\ndef oops(:\n")
    (repo / "pkg" / "stable.py").unlink()
    report = sync_source(es, repo, index_name, progress=False)
    assert report.failures == ["pkg/broken.py:3: invalid syntax", "pkg/extra.py:10: invalid syntax"]
    assert counts(report) == (0, 0, 1, 9)
    assert {"keep_me", "remove_me"} <= set(documents(es, index_name)) and "untouched_fn" not in documents(
        es, index_name
    )


def test_an_alias_of_something_else_is_refused(es, repo, index_name, tmp_path, tiny_data):
    from hybrid_search.pipeline.build import build_index

    build_index(es, tiny_data, index_name, progress=False)
    with pytest.raises(HybridError, match="not built from a source folder"):
        sync_source(es, repo, index_name, progress=False)
    other = f"{index_name}-src"
    sync_source(es, repo, other, progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(HybridError, match="choose another name with --index"):
        sync_source(es, elsewhere, other, progress=False)


def test_watch_updates_the_index_when_a_file_changes(es, repo, index_name):
    sync_source(es, repo, index_name, progress=False)
    stop, reports = threading.Event(), []

    def on_report(report):
        reports.append(report)

    def sync():
        return sync_source(es, repo, index_name, progress=False)

    watcher = threading.Thread(
        target=watch_source, args=(repo, sync, on_report), kwargs={"debounce_ms": 200, "stop_event": stop}
    )
    watcher.start()
    try:
        deadline = time.monotonic() + 60
        # Written again until seen: the watcher may not be watching yet when the first write lands.
        while not any(r.added for r in reports) and time.monotonic() < deadline:
            write(repo, {"pkg/fresh.py": f"def brand_new_helper():\n    return {time.monotonic_ns()}\n"})
            time.sleep(1.0)
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert any(r.added == 1 for r in reports), [describe_sync(r) for r in reports]
    assert "brand_new_helper" in documents(es, index_name)


def test_cli_index_search_and_page_link_to_the_files(es_settings, repo, index_name, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setenv("HYBRID_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    indexed = runner.invoke(cli, ["--es-url", es_settings.url, "index", "--source", str(repo), "--no-progress"])
    assert indexed.exit_code == 0, indexed.output
    assert (
        "no vectors (no trained encoder" in indexed.output and f"alias {index_name} -> {index_name}-v" in indexed.output
    )
    assert "skipped pkg/broken.py:3: invalid syntax" in indexed.output

    found = runner.invoke(cli, ["--es-url", es_settings.url, "search", "read csv rows", "--index", index_name])
    assert found.exit_code == 0, found.output
    lines = found.output.splitlines()
    assert "read_rows" in lines[0] and f"{index_name}/pkg/util.py:4" in lines[0]
    assert lines[1].strip() == f"{(repo / 'pkg/util.py').resolve().as_uri()}#L4-L7"

    refused = runner.invoke(cli, ["--es-url", es_settings.url, "index", "--watch"])
    assert refused.exit_code == 1 and "--watch needs --source" in refused.output

    from fastapi.testclient import TestClient

    from hybrid_search.config import Paths
    from hybrid_search.web.app import create_app

    page = TestClient(create_app(es_settings, index_name, None, Paths.from_env()), base_url="http://localhost").get(
        "/", params={"q": "read csv"}
    )
    assert page.status_code == 200
    href = f'href="{(repo / "pkg/util.py").resolve().as_uri()}#L4-L7"'
    assert href in page.text and f">{index_name}/pkg/util.py:4</a>" in page.text


def test_the_rerank_cache_key_follows_the_content_of_a_function_that_can_change():
    from hybrid_search.retrieval.base import Hit
    from hybrid_search.retrieval.rerank import cache_key

    assert cache_key(Hit("id1", "file:///a.py#L1-L2", 1.0, {"fn_sha": "abc"})) == "id1:abc"
    assert cache_key(Hit("id1", "https://github.com/a/b/blob/c/a.py#L1-L2", 1.0, {})) == "id1"  # corpus: as before


def test_the_encoder_is_nbow_when_trained_then_the_live_one_loaded_only_to_encode(
    es, repo, index_name, tmp_path, trained
):
    from hybrid_search.pipeline.source import choose_encoder

    models = tmp_path / "models"
    models.mkdir()
    (models / "nbow").symlink_to(trained[3], target_is_directory=True)  # the tiny encoder, under nbow's name
    first = choose_encoder(es, index_name, None, models=models)
    assert first.name == "nbow"
    assert sync_source(es, repo, index_name, encoder=first, progress=False).encoder == "nbow"
    again = choose_encoder(es, index_name, None, models=models)
    report = sync_source(es, repo, index_name, encoder=again, progress=False)
    assert counts(report) == (0, 0, 0, 10) and again._loaded is None  # nothing to encode: never loaded
    (repo / "pkg" / "stable.py").write_text(STABLE + "\n\ndef another(values):\n    return max(values)\n")
    assert counts(sync_source(es, repo, index_name, encoder=again, progress=False)) == (1, 0, 0, 10)
    assert again._loaded is not None


def test_vectors_made_reading_docstrings_are_kept_so_by_later_updates(es, repo, index_name, tmp_path, trained):
    from hybrid_search.encoder.folders import reads_docstring_of
    from hybrid_search.es.indexing import index_meta
    from hybrid_search.pipeline.source import choose_encoder
    from hybrid_search.retrieval.dense import index_encoder

    models = tmp_path / "models"
    models.mkdir()
    (models / "nbow").symlink_to(trained[3], target_is_directory=True)
    reading = choose_encoder(es, index_name, None, models=models, reads_docstring=True)
    assert reading.reads_docstring and reading.loaded().config.reads_docstring
    sync_source(es, repo, index_name, encoder=reading, progress=False)
    meta = index_meta(es, index_name)
    assert reads_docstring_of(meta["build"]["encoder"]["weights"])
    assert index_encoder(meta, index_name, models=models).config.reads_docstring  # searched as it was built
    again = choose_encoder(es, index_name, None, models=models)  # a plain re-run keeps the vectors as made
    assert again.reads_docstring and again.fingerprint() == reading.fingerprint()
    assert counts(sync_source(es, repo, index_name, encoder=again, progress=False)) == (0, 0, 0, 10)
    code_only = choose_encoder(es, index_name, None, models=models, reads_docstring=False)
    assert sync_source(es, repo, index_name, encoder=code_only, progress=False).created  # other vectors: a new version
    assert not reads_docstring_of(index_meta(es, index_name)["build"]["encoder"]["weights"])
