"""Scoring the search of a codebase as semble's benchmark does (its benchmarks/bench_hybrid.py).

A query names its targets: files, or line spans of a file (symbol queries). For the top 10 results (each
a unit with a path and a line span):

- a target is hit by the first result whose path matches it (either path is a suffix of the other at a `/`
  boundary) and, when the target has a span, whose span overlaps it;
- NDCG@k with binary gains: the DCG of the hits at their ranks over the DCG of min(k, n_relevant) hits at
  the top, where n_relevant counts the targets that some indexed unit covers ("covered"), or every target
  ("all", so that a file or class header the index cannot return is a miss).

A folder laid out like semble-dev: repos.json (name, benchmark_root), src/<name>/<benchmark_root>/ and
annotations/<name>.json, a list of {query, relevant, secondary, category}.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hybrid_search import HybridError


@dataclass(frozen=True)
class Target:
    path: str
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True)
class Located:
    """A result, or an indexed unit: a path (relative to the repository root) and a line span."""

    path: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class Task:
    repo: str
    query: str
    targets: tuple[Target, ...]  # relevant, then secondary
    category: str


@dataclass(frozen=True)
class Repo:
    name: str
    folder: Path  # the folder that is indexed
    root: str  # that folder relative to the repository root ("src/flask"), prefixed to indexed paths


def path_matches(a: str, b: str) -> bool:
    a, b = a.replace("\\", "/"), b.replace("\\", "/")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def hits(result: Located, target: Target) -> bool:
    if not path_matches(result.path, target.path):
        return False
    if target.start_line is None or target.end_line is None:
        return True
    return not (result.end_line < target.start_line or result.start_line > target.end_line)


def target_ranks(results: Sequence[Located], targets: Iterable[Target]) -> list[int]:
    """The 1-based rank of the first result hitting each target that is hit."""
    ranks = []
    for target in targets:
        rank = next((i for i, result in enumerate(results, 1) if hits(result, target)), None)
        if rank is not None:
            ranks.append(rank)
    return ranks


def dcg(gains: Sequence[int]) -> float:
    return sum(gain / math.log2(i + 2) for i, gain in enumerate(gains))


def ndcg_at(ranks: Iterable[int], n_relevant: int, k: int) -> float:
    if n_relevant <= 0:
        return 0.0
    gains = [0] * k
    for rank in ranks:
        if 1 <= rank <= k:
            gains[rank - 1] = 1
    return dcg(gains) / dcg([1] * min(k, n_relevant))


def covered_targets(units: Sequence[Located], targets: Iterable[Target]) -> int:
    """How many targets some indexed unit covers (semble's n_relevant)."""
    return sum(1 for target in targets if any(hits(unit, target) for unit in units))


def load_benchmark(folder: Path, repos: Sequence[str] = ()) -> tuple[list[Repo], list[Task]]:
    """The repositories and queries of a semble-style folder (one clear line when it is not one)."""
    try:
        specs = json.loads((folder / "repos.json").read_text())
    except (OSError, ValueError) as error:
        raise HybridError(f"{folder}: not a codebase benchmark folder (repos.json: {error})") from None
    chosen, tasks = [], []
    for spec in sorted(specs, key=lambda s: s["name"]):
        name = spec["name"]
        if repos and name not in repos:
            continue
        annotations = folder / "annotations" / f"{name}.json"
        root = (spec.get("benchmark_root") or "").strip("/")
        source = folder / "src" / name / root
        if not annotations.is_file() or not source.is_dir():
            continue
        chosen.append(Repo(name, source, root))
        for item in json.loads(annotations.read_text()):
            targets = tuple(_target(t) for t in [*item.get("relevant", []), *item.get("secondary", [])])
            tasks.append(Task(name, item["query"], targets, item.get("category") or "semantic"))
    if not chosen:
        raise HybridError(f"{folder}: no repository with both src/<name>/ and annotations/<name>.json")
    return chosen, tasks


def _target(raw) -> Target:
    if isinstance(raw, str):
        return Target(raw)
    start, end = raw.get("start_line"), raw.get("end_line")
    return Target(raw["path"], int(start) if start is not None else None, int(end) if end is not None else None)
