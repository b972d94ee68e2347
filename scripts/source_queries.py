"""A sanity check of the modes on your own code: written queries, each with the functions that answer it, and
the rank each mode gives the first of them (docs/results.md, "own code, functions only").

    HYBRID_MODELS=... .venv/bin/python scripts/source_queries.py --index oc-stdlib [--queries FILE.json]

The default queries are for Python's standard library indexed from its folder (`hybrid index --source
/usr/lib/python3.11 --index oc-stdlib`); a queries file is a JSON list of {"query", "answers"}, each answer
`path::func_name` as the index stores them. Not a benchmark: a handful of queries, written by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hybrid_search.config import EsSettings, Paths
from hybrid_search.es.client import connect
from hybrid_search.retrieval import available_modes, make_retriever

STDLIB_QUERIES = [
    {"query": "parse command line arguments", "answers": ["argparse.py::ArgumentParser.parse_args"]},
    {"query": "encode bytes as base64", "answers": ["base64.py::b64encode", "base64.py::standard_b64encode"]},
    {"query": "copy a directory tree recursively", "answers": ["shutil.py::copytree"]},
    {"query": "find files matching a wildcard pattern", "answers": ["glob.py::glob", "glob.py::iglob"]},
    {"query": "url encode a query string", "answers": ["urllib/parse.py::urlencode"]},
    {"query": "decompress gzip data", "answers": ["gzip.py::decompress"]},
    {"query": "split a path into directory and file name", "answers": ["posixpath.py::split"]},
    {"query": "send an email over smtp", "answers": ["smtplib.py::SMTP.sendmail", "smtplib.py::SMTP.send_message"]},
]
DEPTH = 100  # ranks beyond this are shown as "-"


def first_rank(hits, answers: set[str]) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if f"{hit.source.get('path')}::{hit.func_name}" in answers:
            return rank
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="Alias of a `hybrid index --source` index.")
    parser.add_argument("--queries", type=Path, default=None, help="JSON list of {query, answers}.")
    args = parser.parse_args()
    queries = json.loads(args.queries.read_text()) if args.queries else STDLIB_QUERIES
    paths = Paths.from_env()
    client = connect(EsSettings.from_env())
    modes = available_modes(client, args.index, paths=paths)
    ranks: dict[str, list[int | None]] = {}
    times: dict[str, list[float]] = {}
    for mode in modes:
        retriever = make_retriever(client, args.index, mode, paths=paths, source=["path", "func_name", "url"])
        retriever.search(queries[0]["query"], k=DEPTH)  # loads the models: not timed
        for item in queries:
            started = time.perf_counter()
            hits = retriever.search(item["query"], k=DEPTH).hits
            times.setdefault(mode, []).append((time.perf_counter() - started) * 1000)
            ranks.setdefault(mode, []).append(first_rank(hits, set(item["answers"])))
    print("| query | answer | " + " | ".join(modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for i, item in enumerate(queries):
        cells = [str(ranks[m][i]) if ranks[m][i] else "-" for m in modes]
        print(f"| {item['query']} | `{item['answers'][0]}` | " + " | ".join(cells) + " |")
    mrr = [sum(1 / r for r in ranks[m] if r) / len(queries) for m in modes]
    print("| **MRR@100** | | " + " | ".join(f"**{v:.2f}**" for v in mrr) + " |")
    print("| p50 latency | | " + " | ".join(f"{statistics.median(times[m]):.0f} ms" for m in modes) + " |")


if __name__ == "__main__":
    main()
