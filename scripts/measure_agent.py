"""What `hybrid mcp` costs an agent, measured through the MCP SDK's own stdio client (docs/agents.md).

For each folder (copied to a temporary folder first, so that the edit below touches nothing of yours):
- start-up on a new folder: spawn to the handshake done, and to the first search answered (the first build,
  vectors included, is in it);
- start-up on the indexed folder: the same with a second server, once the index exists;
- p50 / p90 of each tool over --runs calls (search in the default mode, find_related at units the searches
  returned, index_status);
- edit to searchable: a new function appended to a file, until a search returns it.
The indices made are deleted at the end (their alias is `agent-cost-<hex>`).

    python scripts/measure_agent.py FOLDER [FOLDER ...] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [
    "parse a configuration file",
    "validate the input value",
    "raise an error when the type is wrong",
    "read a file from disk",
    "serialize the object to json",
    "cache the result of a function",
    "format a string for display",
    "compare two versions",
    "register a callback",
    "iterate over the fields of a class",
]


def params(folder: Path, alias: str) -> StdioServerParameters:
    env = {"PYTHONPATH": str(ROOT), **{k: v for k, v in os.environ.items() if k.startswith("HYBRID_")}}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "hybrid_search.cli", "mcp", str(folder), "--index", alias], env=env
    )


async def timed(session: ClientSession, tool: str, arguments: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    result = await session.call_tool(tool, arguments)
    if result.is_error:
        raise SystemExit(f"{tool}({arguments}) failed: {result.content[0].text}")
    return (time.perf_counter() - started) * 1000, result.structured_content


async def start_up(folder: Path, alias: str, log) -> tuple[float, float]:
    """Seconds from spawning the server to its handshake done (what a client's start-up timeout waits for), and
    to its first search answered."""
    started = time.perf_counter()
    async with stdio_client(params(folder, alias), errlog=log) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        handshake = time.perf_counter() - started
        await timed(session, "search", {"query": QUERIES[0]})
        return round(handshake, 2), round(time.perf_counter() - started, 2)


async def per_tool(folder: Path, alias: str, runs: int, log) -> dict:
    async with stdio_client(params(folder, alias), errlog=log) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await timed(session, "search", {"query": "warm"})
        times: dict[str, list[float]] = {"search": [], "find_related": [], "index_status": []}
        locations = []
        for i in range(runs):
            ms, answer = await timed(session, "search", {"query": QUERIES[i % len(QUERIES)]})
            times["search"].append(ms)
            locations += [(u["file"], u["start_line"]) for u in answer["results"][:1]]
        for file, line in (locations * runs)[:runs]:
            times["find_related"].append((await timed(session, "find_related", {"path": file, "line": line}))[0])
        for _ in range(runs):
            times["index_status"].append((await timed(session, "index_status", {}))[0])
        status = (await timed(session, "index_status", {}))[1]["folders"][0]
        mode = (await timed(session, "search", {"query": "x"}))[1]["mode"]
        edit = await edit_to_searchable(session, folder)
        return {
            "units": status["units"],
            "files": status["files"],
            "encoder": status["encoder"],
            "mode": mode,
            **{f"{tool}_p50_ms": round(statistics.median(ms), 1) for tool, ms in times.items()},
            **{f"{tool}_p90_ms": round(sorted(ms)[int(0.9 * (len(ms) - 1))], 1) for tool, ms in times.items()},
            "edit_to_searchable_s": edit,
        }


async def edit_to_searchable(session: ClientSession, folder: Path) -> float:
    target = next(iter(sorted(folder.rglob("*.py"))))
    name = f"measure_marker_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with target.open("a") as handle:
        handle.write(f'\n\ndef {name}():\n    """Marker added by scripts/measure_agent.py."""\n')
    while time.perf_counter() - started < 60:
        # Lexical: this measures freshness, not ranking (an identifier's definition is found by its name).
        _, answer = await timed(session, "search", {"query": name, "k": 1, "mode": "lexical"})
        if answer["results"] and answer["results"][0]["name"] == name:
            return round(time.perf_counter() - started, 2)
        await anyio.sleep(0.05)
    raise SystemExit("the edit was not searchable within 60 s")


def delete_alias_indices(alias: str) -> None:
    from hybrid_search.config import EsSettings
    from hybrid_search.es.client import connect

    client = connect(EsSettings.from_env())
    for index in client.indices.get(index=f"{alias}-v*", expand_wildcards="all"):
        client.indices.delete(index=index)


def measure(folder: Path, runs: int, log) -> dict:
    alias = f"agent-cost-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / folder.name
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".git", "__pycache__"))
        try:
            new = anyio.run(start_up, copy, alias, log)
            indexed = anyio.run(start_up, copy, alias, log)
            tools = anyio.run(per_tool, copy, alias, runs, log)
        finally:
            delete_alias_indices(alias)
    return {
        "folder": str(folder),
        "new_handshake_s": new[0],
        "new_first_search_s": new[1],
        "indexed_handshake_s": indexed[0],
        "indexed_first_search_s": indexed[1],
        **tools,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps({"cpus": os.cpu_count(), "load_before": os.getloadavg()}))
    with open(os.devnull, "w") as log:
        for folder in args.folders:
            print(json.dumps(measure(folder.resolve(), args.runs, log)), flush=True)
    print(json.dumps({"load_after": os.getloadavg()}))


if __name__ == "__main__":
    main()
