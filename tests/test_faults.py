"""Faults against real nodes: a node stopped or killed mid-build, restarted between index and eval, bulk
back-pressure (429) and documents ES refuses, and Ctrl-C during `hybrid index` and `hybrid train`.

Tests that stop a node use a throw-away second node (tests/es_node.py), never the shared one. The CLI runs
as a subprocess (`sys.executable -m hybrid_search.cli`, this checkout on PYTHONPATH) wherever a fault must
hit it mid-run, so that what a user sees on stderr and the exit code are what is checked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from es_node import ThrowawayNode
from helpers import corpus_actions, generated_corpus, make_function, pair_records, synthetic_pairs, write_jsonl_gz

from hybrid_search.cli import cli
from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.data.types import doc_id
from hybrid_search.es import indexing
from hybrid_search.es.bulk import bulk_load
from hybrid_search.pipeline.build import build_index, source_fingerprint

REPO = Path(__file__).resolve().parents[1]
PRESSURE_LIMIT = 256 * 1024


@pytest.fixture
def node(second_node):
    """The session's throw-away node (conftest), for the tests that stop, kill or restart it."""
    yield second_node
    second_node.up()  # up again for the next test, whatever this one did to it


@pytest.fixture
def tight_node():
    """A node whose indexing-pressure limit refuses (with real 429s) any bulk request above PRESSURE_LIMIT."""
    node = ThrowawayNode(settings={"indexing_pressure.memory.limit": f"{PRESSURE_LIMIT // 1024}kb"})
    try:
        node.up()
        yield node
    finally:
        node.remove()


@pytest.fixture
def alias(request):
    return f"fault-{request.node.name.split('[')[0][5:30].replace('_', '-')}-{os.getpid()}"


def cli_command(url: str, index: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "hybrid_search.cli", "--es-url", url, "--index", index, *args]


def cli_env() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("HYBRID_ES_URL", None)
    return env


def run_cli(url: str, index: str, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command(url, index, *args),
        env=cli_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(url: str, index: str, *args: str, cwd: Path) -> subprocess.Popen:
    return start_interruptible(cli_command(url, index, *args), cwd)


def start_interruptible(command: list[str], cwd: Path) -> subprocess.Popen:
    """A child that takes Ctrl-C as a terminal user's process does.

    A shell's background job (a CI runner, `cmd &`) inherits SIGINT ignored, ignored signals stay ignored
    across exec, and Python then never raises KeyboardInterrupt. A caught signal is reset to its default
    across exec, so SIGINT is caught here while the child starts.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            command, env=cli_env(), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def indexed_so_far(client, alias: str) -> int:
    """Documents written into the version being built (index operations: counted before any refresh)."""
    live = indexing.aliased_index(client, alias)
    building = [name for name in indexing.versions(client, alias) if name != live]
    if not building:
        return 0
    stats = client.indices.stats(index=building[-1], metric="indexing")
    return stats["_all"]["primaries"].get("indexing", {}).get("index_total", 0)  # empty until the shard starts


def wait_until_indexing(client, alias: str, process: subprocess.Popen, at_least: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while indexed_so_far(client, alias) < at_least:
        assert process.poll() is None, f"the build ended before the fault: {process.communicate()}"
        assert time.monotonic() < deadline, "the build did not start"
        time.sleep(0.05)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


def assert_exactly(client, alias: str, n: int) -> None:
    """`alias` holds `n` documents with `n` distinct urls: nothing lost, nothing duplicated."""
    client.indices.refresh(index=alias)
    assert client.count(index=alias)["count"] == n
    duplicates = client.search(
        index=alias, size=0, aggs={"dup": {"terms": {"field": "url", "min_doc_count": 2, "size": 5}}}
    )
    assert duplicates["aggregations"]["dup"]["buckets"] == []


# ---------------------------------------------------------------- the node goes away


def test_node_killed_mid_build_fails_in_one_line_old_index_serves_and_rerun_completes(node, alias, tmp_path):
    data = generated_corpus(tmp_path / "data", 3000)
    client = node.client()
    first = run_cli(node.url, alias, "index", "--data", str(data), "--limit", "100", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    old = indexing.aliased_index(client, alias)

    build = start_cli(node.url, alias, "index", "--data", str(data), "--bulk-size", "25", "--no-progress", cwd=tmp_path)
    wait_until_indexing(client, alias, build, at_least=300)
    os.kill(node.pid(), signal.SIGKILL)  # a crash, not a clean shutdown
    _, stderr = build.communicate(timeout=120)
    assert build.returncode == 1
    assert f"lost the connection to Elasticsearch at {node.url}" in one_error_line(stderr)

    node.up()
    client = node.client()
    assert indexing.aliased_index(client, alias) == old  # the failed rebuild left the old version serving
    assert_exactly(client, alias, 100)

    again = run_cli(node.url, alias, "index", "--data", str(data), "--bulk-size", "500", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "resumed and finished" in again.stdout and f"(was {old};" in again.stdout
    assert_exactly(client, alias, 3000)
    assert old in indexing.versions(client, alias)  # old versions go only with `hybrid indices prune`


def test_node_stopped_mid_build_with_vectors_resumes_into_the_same_index(node, alias, tmp_path, trained):
    _, _, _, model_dir = trained
    data = generated_corpus(tmp_path / "data", 2000)
    client = node.client()
    args = ("index", "--data", str(data), "--encoder", str(model_dir), "--bulk-size", "20", "--no-progress")
    build = start_cli(node.url, alias, *args, cwd=tmp_path)
    wait_until_indexing(client, alias, build, at_least=200)
    building = indexing.versions(client, alias)[-1]
    node.down()  # what `hybrid es down` does: SIGTERM, wait
    _, stderr = build.communicate(timeout=120)
    assert build.returncode == 1
    assert "lost the connection to Elasticsearch" in one_error_line(stderr)

    node.up()
    again = run_cli(node.url, alias, *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"resumed and finished {building}" in again.stdout
    client = node.client()
    assert indexing.aliased_index(client, alias) == building
    assert_exactly(client, alias, 2000)
    assert client.count(index=alias, query={"exists": {"field": "embedding"}})["count"] == 2000


def test_node_restarted_between_index_and_eval(node, alias, tiny_data, tmp_path):
    indexed = run_cli(node.url, alias, "index", "--data", str(tiny_data), "--no-progress", cwd=tmp_path)
    assert indexed.returncode == 0, indexed.stderr
    node.down()
    node.up()
    out = tmp_path / "eval"
    evaluated = run_cli(
        node.url, alias, "eval", "--data", str(tiny_data), "--out", str(out), "--no-progress", cwd=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr
    modes = json.loads((out / "results.json").read_text())["modes"]
    assert modes["lexical"]["ndcg_within"] > 0.5


def test_crash_between_count_check_and_alias_move_is_resumed(es, tiny_data, index_name):
    """Injected at the narrowest point, since no real fault lands there reliably: the version is marked complete
    (as `finish_version` does after its count check) but the alias never moved, as if the process died between."""
    version = indexing.create_version(es, index_name, source_fingerprint(tiny_data, None))
    bulk_load(es, corpus_actions(read_corpus(tiny_data, ReadReport()), version))
    es.indices.put_mapping(index=version, meta={**indexing.index_meta(es, version), "status": "complete", "count": 6})
    report = build_index(es, tiny_data, index_name, progress=False)
    assert report.resumed and report.index == version and indexing.aliased_index(es, index_name) == version
    assert indexing.versions(es, index_name) == [version]  # not a second copy
    assert_exactly(es, index_name, 6)


# ---------------------------------------------------------------- bulk back-pressure and refused documents


def test_persistent_back_pressure_is_retried_then_listed_and_the_alias_stays(tight_node, alias, tmp_path):
    """A bulk request over the node's indexing-pressure limit is refused with a real 429, every time."""
    data = tmp_path / "data"
    small = [make_function(i, f"small_{i}", "A small function here.", "return 1\nreturn 2") for i in range(20)]
    big = make_function(99, "huge_table", "A function with a huge literal.", "x = 1\n" * (PRESSURE_LIMIT // 5))
    write_jsonl_gz(data / "corpus" / "a.jsonl.gz", [*small, big])
    rejects = tmp_path / "rejects.tsv"
    # One writer: a second request in flight beside the big one would be over the limit too (and refused).
    args = ("index", "--data", str(data), "--bulk-size", "5", "--bulk-retries", "1", "--bulk-writers", "1")
    args += ("--rejects", str(rejects))
    started = time.monotonic()
    result = run_cli(tight_node.url, alias, *args, "--no-progress", cwd=tmp_path)
    assert time.monotonic() - started > 1.0  # waited out the backoff before the retry
    assert result.returncode == 3
    message = one_error_line(result.stderr)
    assert "1 of 21 documents were refused" in message and "re-run the same command" in message
    header, *rows = rejects.read_text().splitlines()
    assert header == "id\tstatus\treason"
    assert [row.split("\t")[:2] for row in rows] == [[doc_id(big["url"]), "429"]]
    assert "es_rejected_execution_exception" in rows[0]
    client = tight_node.client()
    assert indexing.aliased_index(client, alias) is None  # nothing half-built is ever served
    assert indexing.index_meta(client, indexing.versions(client, alias)[-1])["status"] == "building"


def test_transient_back_pressure_is_retried_with_backoff_until_it_passes(es, es_settings, tiny_data, index_name):
    """The flood-stage disk block makes ES refuse writes with a real 429 until it is lifted, as when disk
    space frees up. The build resumes into an index that is blocked; the block goes after 1.5 s."""
    version = indexing.create_version(es, index_name, source_fingerprint(tiny_data, None))
    es.indices.put_settings(index=version, settings={"index.blocks.read_only_allow_delete": True})
    lift = threading.Timer(
        1.5,
        es.indices.put_settings,
        kwargs={"index": version, "settings": {"index.blocks.read_only_allow_delete": None}},
    )
    lift.start()
    started = time.monotonic()
    result = CliRunner().invoke(
        cli, ["--es-url", es_settings.url, "--index", index_name, "index", "--data", str(tiny_data), "--no-progress"]
    )
    lift.join()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.5
    assert f"resumed and finished {version}: 6 documents" in result.output
    assert_exactly(es, index_name, 6)


def test_documents_es_refuses_are_listed_counted_and_the_rest_is_served(es, es_settings, tiny_data, index_name):
    """Real per-document bulk failures: an integer out of range and an url too long for a keyword term."""
    overflow = {**make_function(7, "far_away", "Starts very far down.", "return 1\nreturn 2"), "start_line": 2**40}
    long_url = make_function(8, "long_url", "Has an absurd url.", "return 1\nreturn 2")
    long_url["url"] = long_url["url"].replace("src/", "src/" + "d" * 40_000 + "/")
    write_jsonl_gz(tiny_data / "corpus" / "functions-002.jsonl.gz", [overflow, long_url])
    rejects = tiny_data / "rejects.tsv"
    args = ["--es-url", es_settings.url, "--index", index_name, "index", "--data", str(tiny_data), "--no-progress"]
    result = CliRunner().invoke(cli, [*args, "--rejects", str(rejects)])
    assert result.exit_code == 3
    assert f"2 documents were rejected by Elasticsearch; listed in {rejects}" in result.output
    rows = {row.split("\t")[0]: row.split("\t")[1:] for row in rejects.read_text().splitlines()[1:]}
    assert rows[doc_id(overflow["url"])][0] == "400" and "out of range" in rows[doc_id(overflow["url"])][1]
    assert rows[doc_id(long_url["url"])][0] == "400" and "immense term" in rows[doc_id(long_url["url"])][1]
    live = indexing.aliased_index(es, index_name)
    assert indexing.index_meta(es, live)["rejected"] == 2
    assert_exactly(es, index_name, 6)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "already holds this corpus" in again.output


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_index_exits_cleanly_and_the_rerun_resumes(es, es_settings, index_name, tmp_path):
    data = generated_corpus(tmp_path / "data", 3000)
    args = ("index", "--data", str(data), "--bulk-size", "25", "--no-progress")
    build = start_cli(es_settings.url, index_name, *args, cwd=tmp_path)
    wait_until_indexing(es, index_name, build, at_least=300)
    building = indexing.versions(es, index_name)[-1]
    build.send_signal(signal.SIGINT)
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 130
    assert one_error_line(stderr) == "error: interrupted; re-run the same command to resume"
    assert indexing.aliased_index(es, index_name) is None

    again = run_cli(es_settings.url, index_name, *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"resumed and finished {building}" in again.stdout
    assert_exactly(es, index_name, 3000)


def test_ctrl_c_during_train_exits_cleanly_and_the_rerun_resumes_from_the_checkpoint(tmp_path):
    pairs = synthetic_pairs()
    records = pair_records(pairs * 40, partition="train")  # same functions repeated: each epoch lasts longer
    for i, record in enumerate(records):
        record["url"] = f"{record['url']}-{i}"
        record["code"] = f"{record['code']}\n    # copy {i}"
    write_jsonl_gz(tmp_path / "data" / "corpus" / "train.jsonl.gz", records)
    write_jsonl_gz(tmp_path / "data" / "corpus" / "valid.jsonl.gz", pair_records(pairs, partition="valid"))
    out = tmp_path / "model"
    args = [sys.executable, "-m", "hybrid_search.cli", "train", "--data", str(tmp_path / "data"), "--out", str(out)]
    args += ["--encoder", "nbow", "--epochs", "40", "--batch-size", "16", "--dim", "32", "--threads", "1"]
    args += ["--no-progress"]
    training = start_interruptible(args, tmp_path)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists():
        assert training.poll() is None and time.monotonic() < deadline, training.communicate()
        time.sleep(0.05)
    training.send_signal(signal.SIGINT)
    stdout, stderr = training.communicate(timeout=60)
    assert training.returncode == 130, (stdout, stderr)
    assert one_error_line(stderr) == "error: interrupted; re-run the same command to resume"
    finished = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert 1 <= len(finished) < 40

    again = subprocess.run(args, env=cli_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    resumed = int(re.search(r"resuming from epoch (\d+)", again.stdout).group(1))
    assert resumed in (len(finished) - 1, len(finished))  # SIGINT may land between an epoch's line and its save
    assert f"epoch {resumed}:" not in again.stdout and "epoch 40:" in again.stdout
    assert json.loads((out / "training.json").read_text())["history"][-1]["epoch"] == 40
