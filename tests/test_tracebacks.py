"""Inputs and moments that used to end in a traceback, or in a half-built index: each is one line now, and
nothing is created before the input is known to be usable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_faults import cli_env

from hybrid_search import HybridError
from hybrid_search.cli import cli
from hybrid_search.data.annotations import load_queries
from hybrid_search.pipeline.build import build_index


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line(result, starts: str) -> None:
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    assert result.output.startswith(f"error: {starts}"), result.output


def break_loop(shards: Path) -> str:
    os.symlink("loop-b.jsonl.gz", shards / "loop-a.jsonl.gz")
    os.symlink("loop-a.jsonl.gz", shards / "loop-b.jsonl.gz")
    return "Too many levels of symbolic links"


def break_dangling(shards: Path) -> str:
    os.symlink("nowhere.jsonl.gz", shards / "gone.jsonl.gz")
    return "No such file or directory (a symlink to nothing)"


def break_folder(shards: Path) -> str:
    (shards / "old.jsonl.gz").mkdir()
    return "is a folder; move it out of the corpus folder"


@pytest.mark.parametrize("breaker", [break_loop, break_dangling, break_folder])
def test_a_broken_shard_is_one_line_before_any_index_exists(es, es_settings, tiny_data, index_name, breaker):
    message = breaker(tiny_data / "corpus")
    result = run("--es-url", es_settings.url, "--index", index_name, "index", "--data", str(tiny_data), "--no-progress")
    assert_one_line(result, f"corpus file {tiny_data / 'corpus'}/")
    assert message in result.output
    assert es.indices.get(index=f"{index_name}*", expand_wildcards="all") == {}


@pytest.mark.parametrize(
    ("rows", "line"),
    [("functions-000.jsonl.gz\tmany\n", 2), ("functions-000.jsonl.gz\t4\nfunctions-001.jsonl.gz\n", 3)],
)
def test_a_malformed_manifest_is_one_line_before_any_index_exists(es, es_settings, tiny_data, index_name, rows, line):
    manifest = tiny_data / "corpus" / "MANIFEST.tsv"
    manifest.write_text("file\trecords\tsha256\n" + rows)
    result = run("--es-url", es_settings.url, "--index", index_name, "index", "--data", str(tiny_data), "--no-progress")
    assert_one_line(result, f"{manifest}:{line}: expected 'file<TAB>record count'")
    assert es.indices.get(index=f"{index_name}*", expand_wildcards="all") == {}


def test_a_header_only_queries_file_is_one_line(es, es_settings, tiny_data, index_name, tmp_path):
    (tiny_data / "queries.csv").write_text("query\n")
    with pytest.raises(HybridError, match="queries.csv: no queries under the 'query' header"):
        load_queries(tiny_data / "queries.csv")
    build_index(es, tiny_data, index_name, progress=False)
    args = ["--es-url", es_settings.url, "--index", index_name, "eval", "--data", str(tiny_data), "--no-progress"]
    result = run(*args, "--out", str(tmp_path / "out"))
    assert_one_line(result, f"{tiny_data / 'queries.csv'}: no queries")


@pytest.mark.parametrize("where", ["under-a-file", "read-only"])
def test_eval_out_that_cannot_be_written_fails_before_any_mode_runs(es, es_settings, tiny_data, index_name, where):
    """`--out` is checked first (pipeline/challenge.py `check_output_folder`): no mode runs for nothing."""
    build_index(es, tiny_data, index_name, progress=False)
    (tiny_data / "a-file").write_text("")
    out = (
        tiny_data / "a-file" / "eval" if where == "under-a-file" else Path("/sys/hybrid-eval-out")
    )  # EPERM even for root
    searches = es.indices.stats(index=index_name, metric="search")["_all"]["total"]["search"]["query_total"]
    args = ["--es-url", es_settings.url, "--index", index_name, "eval", "--data", str(tiny_data), "--no-progress"]
    result = run(*args, "--out", str(out))
    assert_one_line(result, f"cannot write eval outputs to {out}: ")
    assert es.indices.stats(index=index_name, metric="search")["_all"]["total"]["search"]["query_total"] == searches


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999", "http://127.0.0.1:9200 ", " http://127.0.0.1:9200", "http://127.0.0.1:port"]
)
def test_an_es_url_with_a_bad_port_or_spaces_is_one_line(url):
    result = run("--es-url", url, "search", "read csv")
    assert_one_line(result, "the Elasticsearch URL must look like http://HOST:PORT")


@pytest.mark.parametrize("delay_s", [0.05, 0.15, 0.3, 0.45, 0.6])
def test_ctrl_c_while_search_is_starting_is_one_line_without_resume(es_settings, tiny_vector_index, tmp_path, delay_s):
    """SIGINT from just after the interpreter's start-up (the package's 3-line `__init__` imported, a line
    printed) to the command body: while the `hybrid` script imports its entry point and the commands load,
    while the client connects, while it searches. A search has nothing to resume. (The entry module imports
    nothing: the window left before `main` catches Ctrl-C is the interpreter's start-up and about 1 ms.)"""
    boot = "import sys, hybrid_search; print('up', flush=True); from hybrid_search.cli import main; sys.exit(main())"
    args = ["--es-url", es_settings.url, "--index", tiny_vector_index[0], "search", "read csv file"]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # see test_faults.start_interruptible
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", boot, *args],
            env=cli_env(),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert child.stdout.readline() == b"up\n"
    time.sleep(delay_s)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    assert b"Traceback" not in stderr, stderr.decode()
    if b"read_csv_file" in stdout:  # the search was done first (the signal may still end the exiting interpreter)
        assert child.returncode in (0, -signal.SIGINT)
    else:
        assert (child.returncode, stderr.decode()) == (130, "error: interrupted\n")
