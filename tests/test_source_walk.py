"""`hybrid index --source` on hostile trees (issue 27): an unknown coding line, unreadable folders, a FIFO
swapped in after the scan, symlinks in and out of the folder, a watch whose Elasticsearch goes away, and the
CLI cases around them. Trees are made by each test; the index side runs against the real node."""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import NOBODY, TcpRelay, as_unprivileged

from hybrid_search import HybridError
from hybrid_search.cli import cli
from hybrid_search.config import EsSettings
from hybrid_search.data.checkout import open_checkout, read_source, walk, watched_folders
from hybrid_search.es import indexing
from hybrid_search.es.client import connect
from hybrid_search.pipeline.source import describe_sync, sync_source
from hybrid_search.pipeline.watch import watch_source

GOOD = 'def tidy_helper(values):\n    """Sort the values."""\n    return sorted(values)\n'
BOGUS = "# -*- coding: bogus-codec -*-\ndef never_read():\n    return 1\n"


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


def git_init(folder: Path) -> None:
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "test@example.com")
    git(folder, "config", "user.name", "Test")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "one")


def names_in(es, alias: str) -> set[str]:
    es.indices.refresh(index=alias)
    return {hit["_source"]["func_name"] for hit in es.search(index=alias, size=100)["hits"]["hits"]}


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# ---------------------------------------------------------------- item 3: an unknown coding line


def test_an_unknown_coding_line_is_reported_and_skipped_and_the_build_completes(es, tmp_path, index_name):
    folder = tmp_path / "code"
    write(folder, {"good.py": GOOD, "bogus.py": BOGUS})
    report = sync_source(es, folder, index_name, progress=False)
    assert report.failures == ["bogus.py:1: cannot be read as Python source (unknown encoding: bogus-codec)"]
    assert "skipped bogus.py:1: cannot be read as Python source (unknown encoding: bogus-codec)" in describe_sync(
        report
    )
    # The version was finished and is live: no empty version left marked building.
    live = indexing.aliased_index(es, index_name)
    assert live == report.index and indexing.index_meta(es, live)["status"] == "complete"
    assert names_in(es, index_name) == {"tidy_helper"}


# ---------------------------------------------------------------- item 4: unreadable folders


def _walk_counts(root: str) -> tuple[list[str], list[str]]:
    found = walk(open_checkout(Path(root)))
    return [file.path for file in found.files], found.unreadable_folders


@pytest.fixture
def locked_tree():
    """A tree with a folder its reader may not enter (mode 000), owned by `nobody` when the tests run as root
    so that the walk, run as nobody (`as_unprivileged`), meets the permissions a user meets. Outside pytest's
    tmp folders, which only root may traverse."""
    root = Path(tempfile.mkdtemp(prefix="hybrid-locked-"))
    write(root, {"ok.py": GOOD, "locked/hidden.py": GOOD, "locked/deeper/more.py": GOOD, "open/fine.py": GOOD})
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
    root.chmod(0o755)
    (root / "locked").chmod(0o000)
    try:
        yield root
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_an_unreadable_folder_is_skipped_and_counted(locked_tree):
    files, unreadable = as_unprivileged(_walk_counts, str(locked_tree))
    assert files == ["ok.py", "open/fine.py"] and unreadable == ["locked"]


def test_an_unreadable_folder_in_a_git_checkout_is_skipped_and_counted(locked_tree):
    (locked_tree / "locked").chmod(0o755)
    as_unprivileged(git_init, locked_tree)  # as the owner: git refuses a repository another user owns
    write(locked_tree, {"new/untracked.py": GOOD})
    if os.geteuid() == 0:
        for path in [locked_tree / "new", locked_tree / "new/untracked.py"]:
            os.chown(path, NOBODY, NOBODY)
    (locked_tree / "new").chmod(0o000)
    files, unreadable = as_unprivileged(_walk_counts, str(locked_tree))
    assert "ok.py" in files and "new/untracked.py" not in files and unreadable == ["new"]


def test_walking_proc_does_not_stop_at_its_unreadable_folders():
    """`--source /` meets /proc, whose per-process folders even root may not list: counted, not fatal."""
    found = walk(open_checkout(Path("/proc")))
    assert found.files == [] and all(not name.startswith("/") for name in found.unreadable_folders)


# ---------------------------------------------------------------- item 7: a FIFO swapped in after the scan


def read_in_thread(fn, *args, timeout_s: float = 10.0):
    """(outcome, error) of fn(*args) run in a thread; fails the test if it is still blocked after timeout_s."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return thread, box


def test_a_fifo_swapped_in_after_the_scan_is_refused_at_once(tmp_path):
    folder = tmp_path / "code"
    write(folder, {"a.py": GOOD})
    found = walk(open_checkout(folder))
    (folder / "a.py").unlink()
    os.mkfifo(folder / "a.py")  # what a hostile process (or a named pipe in a project) leaves there
    thread, box = read_in_thread(read_source, found.files[0])
    if thread.is_alive():  # blocked on open: give it a writer so the thread can end, then fail
        with open(folder / "a.py", "w"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert isinstance(box.get("error"), OSError) and "not a regular file" in str(box["error"])


def test_a_fifo_found_by_the_walk_is_counted_not_read(tmp_path):
    folder = tmp_path / "code"
    write(folder, {"a.py": GOOD})
    os.mkfifo(folder / "pipe.py")
    (folder / "link.py").symlink_to(folder / "pipe.py")
    thread, box = read_in_thread(walk, open_checkout(folder))
    assert not thread.is_alive(), "the walk blocked on a FIFO"
    found = box["result"]
    assert [file.path for file in found.files] == ["a.py"] and found.special == ["link.py", "pipe.py"]


# ---------------------------------------------------------------- items 9 and 10: symlinks


@pytest.fixture
def linked_tree(tmp_path) -> tuple[Path, Path]:
    """(folder, outside): the folder holds a link to a file inside it, a link to a file outside it and a
    link to a folder outside it."""
    outside = tmp_path / "outside"
    write(outside, {"secret.py": "def leaked_secret():\n    return 'token'\n", "nested/deep.py": GOOD})
    folder = tmp_path / "code"
    write(folder, {"pkg/a.py": GOOD, "scripts/tool": "def tool_main():\n    return 0\n"})
    (folder / "tool.py").symlink_to("scripts/tool")  # inside: indexed under the link's path
    (folder / "secret_link.py").symlink_to(outside / "secret.py")  # outside: skipped
    (folder / "vendor").symlink_to(outside, target_is_directory=True)  # a folder outside: never entered
    return folder, outside


@pytest.mark.parametrize("in_git", [False, True], ids=["folder", "git"])
def test_symlinks_are_followed_only_inside_the_folder(es, linked_tree, index_name, in_git):
    folder, _outside = linked_tree
    if in_git:
        git_init(folder)
    found = walk(open_checkout(folder))
    assert [file.path for file in found.files] == ["pkg/a.py", "tool.py"]
    assert found.outside == ["secret_link.py"]
    report = sync_source(es, folder, index_name, progress=False)
    assert "1 linked from outside the folder skipped" in describe_sync(report)[0]
    assert names_in(es, index_name) == {"tidy_helper", "tool_main"}


def test_a_symlink_in_a_pushed_checkout_links_to_the_file_on_disk(linked_tree):
    folder, _outside = linked_tree
    git_init(folder)
    git(folder, "remote", "add", "origin", "https://github.com/acme/tools.git")
    git(folder, "update-ref", "refs/remotes/origin/main", "HEAD")  # as if pushed
    git(folder, "branch", "--set-upstream-to=origin/main")
    checkout = open_checkout(folder)
    assert checkout.url("pkg/a.py", 1, 3).startswith(f"https://github.com/acme/tools/blob/{checkout.commit}/")
    assert checkout.url("tool.py", 1, 2) == f"{(folder / 'tool.py').as_uri()}#L1-L2"


def test_watch_covers_the_folders_the_walk_enters_and_nothing_outside(es, linked_tree, index_name):
    folder, outside = linked_tree
    assert set(watched_folders(open_checkout(folder))) == {folder, folder / "pkg", folder / "scripts"}
    sync_source(es, folder, index_name, progress=False)
    stop, reports = threading.Event(), []
    watcher = threading.Thread(
        target=watch_source,
        args=(folder, lambda: sync_source(es, folder, index_name, progress=False), reports.append),
        kwargs={"debounce_ms": 200, "stop_event": stop},
    )
    watcher.start()
    try:
        # Written again until seen: the watcher may not be watching yet when the first write lands.
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:
            write(folder, {"pkg/b.py": f"def fresh_one():\n    return {time.monotonic_ns()}\n"})
            time.sleep(0.5)
        assert reports, "a change inside the folder was not seen"
        time.sleep(1.0)  # let any trailing batch of the writes above pass
        seen = len(reports)
        write(outside, {"secret.py": "def leaked_secret():\n    return 'changed'\n", "nested/deep.py": GOOD * 2})
        time.sleep(2.0)  # 10 debounce periods
        assert len(reports) == seen, "a change outside the folder triggered a sync"
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()


# ---------------------------------------------------------------- item 8: --watch through an Elasticsearch outage


def test_watch_survives_elasticsearch_going_away_and_catches_up(es, es_settings, tmp_path, index_name):
    upstream = es_settings.urls[0].split("//", 1)[1].split(":")
    relay = TcpRelay((upstream[0], int(upstream[1]))).start()
    client = connect(EsSettings(url=relay.url), request_timeout=5, max_retries=0)
    folder = tmp_path / "code"
    write(folder, {"a.py": GOOD})
    sync_source(client, folder, index_name, progress=False)
    stop, reports, said = threading.Event(), [], []
    watcher = threading.Thread(
        target=watch_source,
        args=(folder, lambda: sync_source(client, folder, index_name, progress=False), reports.append),
        kwargs={"debounce_ms": 200, "stop_event": stop, "say": said.append, "max_wait_s": 1.0},
    )
    watcher.start()
    try:
        time.sleep(1.0)  # the watcher starts watching
        relay.stop()  # the node "restarts": every connection refused
        deadline = time.monotonic() + 30
        while not said and time.monotonic() < deadline:
            write(folder, {"b.py": f"def added_while_down():\n    return {time.monotonic_ns()}\n"})
            time.sleep(0.5)
        assert said and said[0].startswith("sync failed: Elasticsearch is not answering"), said
        time.sleep(2.5)  # a few retries fail meanwhile, said once
        assert len(said) == 1 and watcher.is_alive(), said
        relay.start()  # back, on the same port
        wait_for(lambda: reports, 30, "the sync after the outage")
    finally:
        stop.set()
        watcher.join(timeout=30)
        relay.stop()
    assert said[1:] == ["sync succeeded again: caught up with the changes made meanwhile"]
    assert names_in(es, index_name) == {"tidy_helper", "added_while_down"}


# ---------------------------------------------------------------- items 5, 6, 12: the commands around it


def test_hybrid_data_in_the_environment_does_not_block_index_source(es_settings, tmp_path, index_name):
    folder = tmp_path / "code"
    write(folder, {"a.py": GOOD})
    env = {"HYBRID_DATA": str(tmp_path / "corpus"), "HYBRID_MODELS": str(tmp_path / "no-models")}
    base = ["--es-url", es_settings.url, "index", "--source", str(folder), "--index", index_name, "--no-progress"]
    ran = CliRunner().invoke(cli, base, env=env)
    assert ran.exit_code == 0, ran.output
    typed = CliRunner().invoke(cli, [*base, "--data", str(tmp_path / "corpus")], env=env)
    assert typed.exit_code == 1 and "apply to the corpus, not to --source" in typed.output


def test_es_status_before_any_index_exists(es_settings, index_name):
    ran = CliRunner().invoke(cli, ["--es-url", es_settings.url, "--index", index_name, "es", "status"])
    assert ran.exit_code == 0, ran.output
    assert "node:          " in ran.output
    assert f"index:         {index_name} not found (build it with `hybrid index`)" in ran.output


def test_an_index_named_where_an_alias_belongs_is_refused_before_any_work(es, tmp_path, tiny_data, index_name):
    from hybrid_search.pipeline.build import build_index

    es.indices.create(index=index_name)
    folder = tmp_path / "code"
    write(folder, {"a.py": GOOD})
    with pytest.raises(HybridError, match=f"'{index_name}' is an index, not an alias"):
        sync_source(es, folder, index_name, progress=False)
    with pytest.raises(HybridError, match=f"'{index_name}' is an index, not an alias"):
        build_index(es, tiny_data, index_name, progress=False)
    assert indexing.versions(es, index_name) == []  # no orphan version
