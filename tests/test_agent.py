"""Code search for agents against the real node: `search --json` and its schema, several folders as one,
`related`, and `hybrid mcp` as a real subprocess driven by the MCP SDK's own stdio client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import jsonschema
import pytest
from click.testing import CliRunner
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from hybrid_search.agent.schema import RelatedOut, SearchOut
from hybrid_search.cli import cli
from hybrid_search.pipeline.source import sync_source

WORKTREE = Path(__file__).resolve().parents[1]

UTIL = '''\
"""Small helpers."""
import csv


def read_rows(path):
    """Read a CSV file into a list of rows."""
    with open(path) as handle:
        return list(csv.reader(handle))


def write_rows(path, rows):
    """Write rows to a CSV file."""
    with open(path, "w") as handle:
        csv.writer(handle).writerows(rows)


class Cache:
    """A tiny in-memory cache."""

    def get(self, key):
        """Return the cached value for a key."""
        return self.data.get(key)

    def put(self, key, value):
        """Store a value under a key."""
        self.data[key] = value
'''
NET = '''\
import urllib.request


def fetch_page(url):
    """Download a web page and return its text."""
    with urllib.request.urlopen(url) as response:
        return response.read().decode()
'''
PLOTS = '''\
def draw_histogram(values, bins):
    """Draw a histogram of the values with matplotlib."""
    import matplotlib.pyplot as plt
    plt.hist(values, bins=bins)
'''


def make_folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def project(tmp_path) -> Path:
    return make_folder(tmp_path / "project", {"pkg/util.py": UTIL, "pkg/net.py": NET})


@pytest.fixture
def runner(es_settings, paths, monkeypatch):
    """`hybrid ...` in process, on the test's node and folders (no models: lexical modes)."""
    monkeypatch.setenv("HYBRID_HOME", str(paths.home))
    monkeypatch.setenv("HYBRID_ES_URL", es_settings.url)

    def run(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return run


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


# ---------------------------------------------------------------- search --json, several folders, related


def test_search_json_is_the_schema(es, project, index_name, runner):
    sync_source(es, project, index_name, progress=False)
    result = runner("search", "read a csv file into rows", "--json", "--max-snippet-lines", "2", "--index", index_name)
    assert result.exit_code == 0, result.output
    answer = SearchOut.model_validate_json(result.output)
    top = answer.results[0]
    assert (top.folder, top.path, top.name, top.kind) == (index_name, "pkg/util.py", "read_rows", "function")
    assert (top.start_line, top.end_line) == (line_of(UTIL, "def read_rows"), line_of(UTIL, "csv.reader"))
    assert top.file == str(project.resolve() / "pkg/util.py")
    assert top.snippet.splitlines() == UTIL.splitlines()[top.start_line - 1 : top.start_line + 1]
    assert top.lines_omitted == top.end_line - top.start_line + 1 - 2
    assert [u.rank for u in answer.results] == list(range(1, len(answer.results) + 1))
    assert [u.score for u in answer.results] == sorted((u.score for u in answer.results), reverse=True)


def test_search_under_a_path_and_its_errors(es, project, index_name, runner):
    sync_source(es, project, index_name, progress=False)
    scoped = runner("search", "csv rows page", "--json", "--path", "pkg/net.py", "--index", index_name)
    assert {u.path for u in SearchOut.model_validate_json(scoped.output).results} == {"pkg/net.py"}
    missing = runner("search", "csv", "--path", "pkg/gone.py", "--index", index_name)
    assert missing.exit_code == 1 and "path not found" in missing.output and "pkg/gone.py" in missing.output
    for blank in ("  ", "\x01\x1b", "\u200b "):  # spaces, control characters, invisible marks: nothing to search
        empty = runner("search", blank, "--json", "--index", index_name)
        assert empty.exit_code == 1 and "query is empty" in empty.output, repr(blank)


def test_several_folders_are_one_search_labelled_by_folder(es, tmp_path, project, index_name, runner):
    other = make_folder(tmp_path / "plots", {"charts.py": PLOTS})
    second = f"{index_name}-b"
    sync_source(es, project, index_name, progress=False)
    sync_source(es, other, second, progress=False)
    both = f"{index_name},{second}"

    histogram = SearchOut.model_validate_json(runner("search", "draw a histogram", "--json", "--index", both).output)
    assert [f.name for f in histogram.folders] == [index_name, second]
    assert (histogram.results[0].folder, histogram.results[0].name) == (second, "draw_histogram")
    assert histogram.results[0].file == str(other.resolve() / "charts.py")

    csv = SearchOut.model_validate_json(runner("search", "csv file rows", "--json", "-k", "3", "--index", both).output)
    assert csv.results[0].folder == index_name and len(csv.results) <= 3
    assert [u.score for u in csv.results] == sorted((u.score for u in csv.results), reverse=True)

    text = runner("search", "histogram", "--index", both)
    assert f"{second}: charts.py:1-4" in text.output


def test_related_finds_the_sibling_and_leaves_the_unit_out(es, project, index_name, runner):
    sync_source(es, project, index_name, progress=False)
    line = line_of(UTIL, "csv.reader")
    result = runner("related", f"pkg/util.py:{line}", "--json", "--index", index_name)
    assert result.exit_code == 0, result.output
    answer = RelatedOut.model_validate_json(result.output)
    assert (answer.target.name, answer.target.kind, answer.method) == ("read_rows", "function", "text")
    names = [u.name for u in answer.results]
    assert "read_rows" not in names and names[0] == "write_rows"

    # The innermost unit: a line of a method is the method, not its class; an absolute path works as well.
    inner = runner("related", f"{project / 'pkg/util.py'}:{line_of(UTIL, 'self.data.get')}", "--index", index_name)
    assert inner.output.startswith("like Cache.get (method"), inner.output

    for location, message in [
        ("pkg/util.py", "expected PATH:LINE"),
        ("pkg/gone.py:3", "file not found"),
        ("pkg/util.py:999", "no unit of pkg/util.py holds line 999"),
    ]:
        failed = runner("related", location, "--index", index_name)
        assert failed.exit_code != 0 and message in failed.output, (location, failed.output)


def test_related_fuses_stored_vectors(es, project, index_name, paths, trained):
    from hybrid_search.agent.folders import folder_of_alias
    from hybrid_search.agent.search import Searcher
    from hybrid_search.encoder.encoder import Encoder

    sync_source(es, project, index_name, encoder=Encoder.load(trained[3]), progress=False)
    searcher = Searcher(es, [folder_of_alias(es, index_name)], paths)
    answer = searcher.related("pkg/util.py", line_of(UTIL, "csv.writer"), k=20)
    assert answer.method == "text+vector" and answer.target.name == "write_rows"
    names = [u.name for u in answer.results]
    assert "write_rows" not in names
    # Every other unit has a vector, so the vector list ranks them all: the fusion returns each of them once.
    assert sorted(names) == sorted(set(names)) and len(names) == es.count(index=index_name)["count"] - 1

    found = searcher.search("write rows to a csv file", k=3)  # a codebase's default mode (retrieval/modes.py)
    assert found.mode == "lexical" and "write_rows" in [u.name for u in found.results]
    fused = searcher.search("write rows to a csv file", k=3, mode="hybrid")
    assert fused.mode == "hybrid" and "write_rows" in [u.name for u in fused.results]


# ---------------------------------------------------------------- hybrid mcp as a real subprocess


def server_params(folder: Path, alias: str, es_url: str, home: Path) -> StdioServerParameters:
    env = {"HYBRID_ES_URL": es_url, "HYBRID_HOME": str(home), "PYTHONPATH": str(WORKTREE)}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "hybrid_search.cli", "mcp", str(folder), "--index", alias],
        env=env,
        cwd=str(WORKTREE),
    )


def run_client(params: StdioServerParameters, session_body) -> None:
    """Start the server, initialize a session with the SDK's stdio client and run `session_body(session)`."""

    async def main(quiet):
        with anyio.fail_after(120):
            async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                await session_body(session)

    with open(os.devnull, "w") as quiet:  # the server's stderr log; failures show in the assertions
        anyio.run(main, quiet)


def error_line(result) -> str:
    assert result.is_error, result
    text = result.content[0].text
    assert "\n" not in text and "Traceback" not in text, text
    return text


def test_mcp_server_tools_edits_and_errors(es, es_settings, project, index_name, paths, runner):
    (project / "pkg/broken.py").write_text("import os\n\ndef broken(:\n    pass\n")
    params = server_params(project, index_name, es_settings.url, paths.home)

    async def session_body(session: ClientSession):
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"search", "find_related", "index_status"}
        assert all(tool.output_schema for tool in tools.values())

        found = await session.call_tool("search", {"query": "read a csv file into rows", "k": 5})
        assert not found.is_error, found
        top = found.structured_content["results"][0]
        assert (top["name"], top["path"], top["folder"]) == ("read_rows", "pkg/util.py", index_name)
        text = found.content[0].text  # for clients that read text only: the same, as compact JSON
        assert json.loads(text) == found.structured_content and "\n" not in text

        # `hybrid search --json` speaks the tool's schema, and ranks the same.
        shell = runner("search", "read a csv file into rows", "-k", "5", "--json", "--index", index_name)
        printed = json.loads(shell.output)
        jsonschema.validate(printed, tools["search"].output_schema)
        assert printed["results"] == found.structured_content["results"]

        related = await session.call_tool("find_related", {"path": "pkg/util.py", "line": line_of(UTIL, "csv.reader")})
        assert not related.is_error, related
        jsonschema.validate(related.structured_content, tools["find_related"].output_schema)
        assert related.structured_content["target"]["name"] == "read_rows"
        assert "read_rows" not in [u["name"] for u in related.structured_content["results"]]

        status = (await session.call_tool("index_status", {})).structured_content
        folder = status["folders"][0]
        assert (folder["name"], folder["root"], folder["error"]) == (index_name, str(project.resolve()), None)
        assert folder["units"] == es.count(index=index_name)["count"] and folder["files"] == 3
        assert folder["watching"] and folder["last_update"] and folder["modes"] == ["baseline", "lexical"]
        assert [s["path"] for s in folder["skipped"]] == ["pkg/broken.py"] and folder["skipped_total"] == 1
        assert folder["skipped"][0]["reason"].startswith("does not parse (line 3")

        # An edit is seen by the next searches: the watcher indexes it within a bounded wait.
        (project / "pkg/net.py").write_text(NET + '\n\ndef parse_zebra_stripes(text):\n    """Zebra stripes."""\n')
        deadline, names = time.monotonic() + 20, []
        while time.monotonic() < deadline and "parse_zebra_stripes" not in names:
            await anyio.sleep(0.3)
            answer = await session.call_tool("search", {"query": "zebra stripes"})
            names = [u["name"] for u in answer.structured_content["results"]]
        assert names and names[0] == "parse_zebra_stripes"

        # Errors: one line each, and the server keeps answering.
        assert "query is empty" in error_line(await session.call_tool("search", {"query": "   "}))
        assert "bad arguments for search: k" in error_line(await session.call_tool("search", {"query": "x", "k": 0}))
        bad_line = error_line(await session.call_tool("find_related", {"path": "pkg/util.py", "line": "ten"}))
        assert "bad arguments for find_related: line" in bad_line
        assert "file not found" in error_line(await session.call_tool("find_related", {"path": "gone.py", "line": 1}))
        assert "path not found" in error_line(await session.call_tool("search", {"query": "x", "path": "nowhere/"}))
        assert "not available" in error_line(await session.call_tool("search", {"query": "x", "mode": "dense"}))
        assert not (await session.call_tool("search", {"query": "cache"})).is_error

    run_client(params, session_body)


def test_mcp_server_over_several_folders(es_settings, tmp_path, project, index_name, paths):
    other = make_folder(tmp_path / "plots", {"charts.py": PLOTS})
    second = f"{index_name}-b"
    params = server_params(project, index_name, es_settings.url, paths.home)
    params.args = [*params.args[:-2], str(other), "--index", f"{index_name},{second}"]

    async def session_body(session: ClientSession):
        found = (await session.call_tool("search", {"query": "draw a histogram"})).structured_content
        assert [f["name"] for f in found["folders"]] == [index_name, second]
        assert (found["results"][0]["folder"], found["results"][0]["name"]) == (second, "draw_histogram")
        assert {u["folder"] for u in found["results"]} <= {index_name, second}
        csv = (await session.call_tool("search", {"query": "csv rows"})).structured_content["results"]
        assert csv[0]["folder"] == index_name

        where = str(other / "charts.py")  # absolute: the folder it is in decides
        related = await session.call_tool("find_related", {"path": where, "line": 2})
        assert related.structured_content["target"]["folder"] == second
        status = (await session.call_tool("index_status", {})).structured_content["folders"]
        assert [(f["name"], f["files"], f["error"]) for f in status] == [(index_name, 2, None), (second, 1, None)]

    run_client(params, session_body)


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_mcp_server_without_elasticsearch(project, paths):
    url = f"http://127.0.0.1:{closed_port()}"
    params = server_params(project, "test-no-node", url, paths.home)

    async def session_body(session: ClientSession):
        message = error_line(await session.call_tool("search", {"query": "csv"}))
        assert "Elasticsearch is not reachable" in message and url in message
        status = await session.call_tool("index_status", {})
        assert not status.is_error
        assert "not reachable" in status.structured_content["folders"][0]["error"]
        assert len((await session.list_tools()).tools) == 3  # still serving

    run_client(params, session_body)


def test_mcp_stdout_is_the_protocol_only(es_settings, project, index_name, paths):
    """A first build at start-up (a new folder) prints nothing on stdout but JSON-RPC; a missing folder is one
    line on stderr."""
    env = {**os.environ, "HYBRID_ES_URL": es_settings.url, "HYBRID_HOME": str(paths.home), "PYTHONPATH": str(WORKTREE)}
    command = [sys.executable, "-m", "hybrid_search.cli", "mcp", str(project), "--index", index_name]
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": "csv"}},
        },
    ]
    server = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=WORKTREE,
    )
    try:
        server.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        server.stdin.flush()
        replies = read_replies(server, until_id=2, timeout_s=60)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    assert all(reply.get("jsonrpc") == "2.0" for reply in replies)
    answer = next(reply for reply in replies if reply.get("id") == 2)["result"]
    assert not answer.get("isError") and answer["structuredContent"]["results"][0]["path"] == "pkg/util.py"

    missing = subprocess.run(
        [*command[:4], str(project / "absent")], check=False, capture_output=True, text=True, env=env
    )
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [f"error: folder not found: {project / 'absent'}"]


def read_replies(server: subprocess.Popen, until_id: int, timeout_s: float) -> list[dict]:
    """Every line the server wrote on stdout, parsed as JSON, up to the reply with `until_id` (bounded wait)."""
    import select

    replies, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([server.stdout], [], [], max(deadline - time.monotonic(), 0))
        line = server.stdout.readline() if ready else ""
        if not line:
            break
        replies.append(json.loads(line))  # anything but JSON on stdout fails here
        if replies[-1].get("id") == until_id:
            return replies
    raise AssertionError(f"no reply {until_id} within {timeout_s} s: {replies}")


# ---------------------------------------------------------------- pure: bodies, merge, fusion, folders, units


def test_request_bodies():
    from hybrid_search.agent.queries import excluding, more_like_search, stored_vector, units_of_file

    assert units_of_file("pkg/util.py", source=["path"]) == {
        "query": {"bool": {"filter": [{"term": {"path": "pkg/util.py"}}]}},
        "size": 10_000,
        "_source": ["path"],
    }
    similar = more_like_search('x" OR *:(', fields=["code"], size=3, source=False, excluded_ids=["id1"])
    mlt = similar["query"]["bool"]["must"][0]["more_like_this"]
    assert mlt["like"] == ['x" OR *:('] and mlt["fields"] == ["code"] and mlt["min_doc_freq"] == 1
    assert similar["query"]["bool"]["must_not"] == [{"ids": {"values": ["id1"]}}] and similar["size"] == 3
    assert "bool" not in more_like_search("x", fields=["code"], size=3, source=False)["query"]

    body = {"query": {"match_all": {}}, "size": 5}
    assert excluding(body, []) is body
    assert excluding(body, ["a"]) == {
        "query": {"bool": {"must": [{"match_all": {}}], "must_not": [{"ids": {"values": ["a"]}}]}},
        "size": 5,
    }
    assert body == {"query": {"match_all": {}}, "size": 5}  # not changed
    vector = stored_vector("id9")
    assert vector["query"] == {"bool": {"filter": [{"ids": {"values": ["id9"]}}]}} and vector["_source"] is False
    assert "vectorValue" in vector["script_fields"]["vector"]["script"]["source"]


def folder_hit(order: int, doc_id: str, score: float, path: str = "a.py", line: int = 1):
    from hybrid_search.agent.folders import Folder
    from hybrid_search.agent.search import FolderHit
    from hybrid_search.retrieval.base import Hit

    source = {"path": path, "start_line": line}
    return FolderHit(order, Folder(name=f"f{order}", root=None), Hit(doc_id, "", score, source))


def test_merge_by_score_ties_by_folder_order():
    from hybrid_search.agent.search import merged

    hits = [folder_hit(1, "x", 2.0), folder_hit(0, "y", 2.0), folder_hit(1, "z", 5.0), folder_hit(0, "w", 1.0)]
    assert [(fh.order, fh.hit.doc_id) for fh in merged(hits)] == [(1, "z"), (0, "y"), (1, "x"), (0, "w")]


def test_fusion_by_reciprocal_rank_keeps_one_id_per_folder():
    from hybrid_search.agent.search import fused

    text = [folder_hit(0, "a", 9.0), folder_hit(1, "a", 8.0), folder_hit(0, "b", 1.0)]
    vector = [folder_hit(0, "b", 0.9), folder_hit(0, "a", 0.5)]
    ranked = fused(text, vector)
    scores = {(fh.order, fh.hit.doc_id): fh.hit.score for fh in ranked}
    # rank 1 and 2 in the two lists, 1/(60+r) each (retrieval/fusion.py); the same id in folder 1 is its own unit.
    assert scores[(0, "a")] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[(0, "b")] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[(1, "a")] == pytest.approx(1 / 62)
    assert [key for key in scores] == [(0, "a"), (0, "b"), (1, "a")]


def test_unit_snippet_is_bounded():
    from hybrid_search.agent.folders import Folder
    from hybrid_search.agent.search import FolderHit, unit
    from hybrid_search.retrieval.base import Hit

    code = "\n".join(f"line {i}" for i in range(1, 8))
    source = {
        "path": "sub/pkg/m.py",
        "start_line": 3,
        "end_line": 9,
        "func_name": "f",
        "kind": "function",
        "code": code,
    }
    folder = Folder(name="proj", root=Path("/src/proj"), prefix="sub/")
    shown = unit(FolderHit(0, folder, Hit("id", "", 1.23456, source)), 1, 3)
    assert (shown.path, shown.file, shown.snippet, shown.lines_omitted) == (
        "pkg/m.py",
        "/src/proj/pkg/m.py",
        "line 1\nline 2\nline 3",
        4,
    )
    assert unit(FolderHit(0, folder, Hit("id", "", 1.0, source)), 1, 50).lines_omitted == 0


def test_paths_map_to_what_the_index_holds(tmp_path):
    from hybrid_search import HybridError
    from hybrid_search.agent.folders import Folder, scoped_to

    make_folder(tmp_path / "one", {"src/app.py": "x = 1\n"})
    make_folder(tmp_path / "two", {"lib.py": "y = 2\n"})
    one = Folder(name="one", root=(tmp_path / "one").resolve(), prefix="repo/")
    two = Folder(name="two", root=(tmp_path / "two").resolve())
    assert scoped_to([one, two], "src/app.py") == {"one": {"term": {"path": "repo/src/app.py"}}}
    assert scoped_to([one, two], "src") == {"one": {"prefix": {"path": "repo/src/"}}}
    assert scoped_to([one, two], str(tmp_path / "two" / "lib.py")) == {"two": {"term": {"path": "lib.py"}}}
    assert scoped_to([one, two], str(tmp_path / "two")) == {"two": None}
    with pytest.raises(HybridError, match="path not found in one .*, two .*: nowhere.py"):
        scoped_to([one, two], "nowhere.py")
    assert one.locate("../two/lib.py") is None  # outside the folder


def test_location_and_folder_names(tmp_path):
    from hybrid_search import HybridError
    from hybrid_search.agent.server import folder_names
    from hybrid_search.cli.search import parse_location

    assert parse_location("a/b.py:12") == ("a/b.py", 12)
    assert parse_location("C:/x.py:3") == ("C:/x.py", 3)
    for bad in ("a/b.py", "a/b.py:x", ":3"):
        with pytest.raises(HybridError, match="expected PATH:LINE"):
            parse_location(bad)
    roots = [tmp_path / "a" / "App", tmp_path / "b" / "app", tmp_path / "c"]
    assert folder_names(roots, None) == ["app", "app-2", "c"]
    assert folder_names(roots[:2], ["x", "y"]) == ["x", "y"]
    with pytest.raises(HybridError, match="one per folder"):
        folder_names(roots, ["x"])
    with pytest.raises(HybridError, match="share one index"):
        folder_names(roots[:2], ["x", "x"])
