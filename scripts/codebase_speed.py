"""How fast a codebase is indexed and kept current, timed from the command as a user runs it.

    .venv/bin/python scripts/codebase_speed.py FOLDER [FOLDER ...] [--encoder nbow] [--runs 3]

For each folder (a copy is made, so the edit below touches nothing of yours): the whole
`hybrid index --source COPY --rebuild` command (Python start-up included), the same command again with nothing
changed, and under `hybrid index --source COPY --watch` the time from writing a new function to the file until a
search finds it. Prints one table row per folder and setting (medians of --runs). Without --encoder the index
has no vectors (lexical modes, no torch); with one, what a first index with vectors costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hybrid_search.config import EsSettings
from hybrid_search.es.client import connect

HYBRID = [sys.executable, "-m", "hybrid_search.cli"]


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def edit_to_searchable(copy: Path, alias: str, env: dict, client, timeout_s: float = 30.0) -> float:
    """Seconds from writing a new function into the copy to a search of the index finding it, under --watch."""
    watcher = subprocess.Popen(
        [*HYBRID, "index", "--source", str(copy), "--index", alias, "--watch", "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in watcher.stdout:  # the first sync is done once it says it is watching
            if line.startswith("watching"):
                break
        time.sleep(0.5)
        name = f"freshly_written_{time.monotonic_ns()}"
        written = time.perf_counter()
        (copy / "speed_probe.py").write_text(f"def {name}():\n    return 1\n")
        while time.perf_counter() - written < timeout_s:
            client.indices.refresh(index=alias)
            if client.count(index=alias, query={"term": {"func_name.keyword": name}})["count"]:
                return time.perf_counter() - written
            time.sleep(0.02)
        raise SystemExit(f"{name} was not searchable after {timeout_s} s")
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--encoder", default=None, help="Build with this encoder's vectors [default: none].")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    client = connect(EsSettings.from_env())
    print(
        "| folder | units | vectors | first index (command) | re-run, nothing changed | edit -> searchable (--watch) |"
    )
    print("|---|---|---|---|---|---|")
    for folder in args.folders:
        with tempfile.TemporaryDirectory() as scratch:
            env = dict(os.environ)
            if args.encoder is None:
                env["HYBRID_MODELS"] = str(Path(scratch) / "no-models")  # no encoder: no vectors, no torch
            copy = Path(scratch) / folder.resolve().name
            shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".git"))
            alias = f"speed-{copy.name}".lower()
            index = [*HYBRID, "index", "--source", str(copy), "--index", alias, "--no-progress"]
            if args.encoder:
                index += ["--encoder", args.encoder]
            try:
                first = [timed([*index, "--rebuild"], env) for _ in range(args.runs)]
                again = [timed(index, env) for _ in range(args.runs)]
                edits = [edit_to_searchable(copy, alias, env, client) for _ in range(args.runs)]
                units = client.count(index=alias)["count"]
            finally:
                for name in client.indices.get(index=f"{alias}*", expand_wildcards="all"):
                    client.indices.delete(index=name)
        print(
            f"| {folder.name} | {units:,} | {args.encoder or 'none'} | {statistics.median(first):.2f} s | "
            f"{statistics.median(again):.2f} s | {statistics.median(edits):.2f} s |"
        )


if __name__ == "__main__":
    main()
