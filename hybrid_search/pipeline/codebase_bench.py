"""`hybrid eval-codebase`: index each repository of a semble-style folder and score every mode on its queries.

Per repository: the time to build its index from nothing (`hybrid index --source` with a new version, the
previous ones of its `bench-<repo>` alias deleted) and to re-run it with nothing changed, then for each mode
the top 10 of every query, scored as evaluation/codebase.py says (NDCG@10 and NDCG@5, with n_relevant over the
covered targets and over all), with the client wall time per query (p50 / p95, one warm-up query first).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from elasticsearch import Elasticsearch
from elasticsearch.helpers import scan
from tqdm import tqdm

from hybrid_search.config import Paths
from hybrid_search.es import indexing
from hybrid_search.evaluation.codebase import (
    Located,
    Repo,
    Task,
    covered_targets,
    load_benchmark,
    ndcg_at,
    target_ranks,
)
from hybrid_search.pipeline.source import choose_encoder, sync_source
from hybrid_search.retrieval import available_modes, make_retriever

# semble's published NDCG@10 / NDCG@5 (its benchmarks, model preloaded, in process; ../shared/semble-dev).
SEMBLE = {"click": (1.000, 1.000), "flask": (0.887, 0.860), "pydantic": (0.784, 0.753), "requests": (0.967, 0.967)}
RESULT_FIELDS = ["path", "start_line", "end_line", "func_name", "kind"]


@dataclass
class QueryResult:
    repo: str
    mode: str
    query: str
    category: str
    ndcg10: float
    ndcg5: float
    ndcg10_all: float
    ndcg5_all: float
    ms: float
    top: list[str] = field(default_factory=list)  # path:start-end of the top 10


@dataclass
class RepoBuild:
    repo: str
    units: int
    index_s: float  # a new version, from nothing
    rerun_s: float  # the same command again, nothing changed


def bench_alias(repo: str) -> str:
    return f"bench-{repo}".lower()


def indexed_units(client: Elasticsearch, alias: str, root: str) -> list[Located]:
    """Every unit of the index, located as the annotations locate targets (from the repository root)."""
    return [
        located(hit["_source"], root)
        for hit in scan(client, index=alias, query={"_source": ["path", "start_line", "end_line"]}, size=2000)
    ]


def located(source: dict, root: str) -> Located:
    path = f"{root}/{source['path']}" if root else source["path"]
    return Located(path, int(source.get("start_line") or 0), int(source.get("end_line") or 0))


def build_repo(client: Elasticsearch, repo: Repo, *, paths: Paths, encoder: str | None) -> RepoBuild:
    alias = bench_alias(repo.name)
    model = choose_encoder(client, alias, encoder, models=paths.models)
    started = time.perf_counter()
    report = sync_source(client, repo.folder, alias, encoder=model, rebuild=True, progress=False)
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    sync_source(client, repo.folder, alias, encoder=model, progress=False)
    rerun_s = time.perf_counter() - started
    for old in indexing.old_versions(client, alias)[0]:  # a benchmark's earlier builds are scratch: not kept
        client.indices.delete(index=old)
    return RepoBuild(repo.name, report.functions, index_s, rerun_s)


def score_mode(client, repo: Repo, tasks: list[Task], mode: str, covered: list[int], *, paths: Paths):
    """Every task's top 10 in `mode`, scored; `covered[i]`: how many of task i's targets the index covers."""
    retriever = make_retriever(
        client, bench_alias(repo.name), mode, paths=paths, source=RESULT_FIELDS, reproducible=True
    )
    retriever.search(tasks[0].query, k=10)  # loads what the mode needs: not timed
    results = []
    for task, n_covered in zip(tasks, covered):
        started = time.perf_counter()
        hits = retriever.search(task.query, k=10).hits
        ms = (time.perf_counter() - started) * 1000
        top = [located(hit.source, repo.root) for hit in hits]
        ranks = target_ranks(top, task.targets)
        every = len(task.targets)
        results.append(
            QueryResult(
                repo.name,
                mode,
                task.query,
                task.category,
                ndcg_at(ranks, n_covered, 10),
                ndcg_at(ranks, n_covered, 5),
                ndcg_at(ranks, every, 10),
                ndcg_at(ranks, every, 5),
                ms,
                [f"{r.path}:{r.start_line}-{r.end_line}" for r in top],
            )
        )
    return results


def run_codebase_bench(
    client: Elasticsearch,
    folder: Path,
    *,
    paths: Paths,
    modes: list[str] | None = None,
    repos: list[str] | None = None,
    encoder: str | None = None,
    progress: bool = True,
) -> tuple[list[RepoBuild], list[QueryResult]]:
    chosen, tasks = load_benchmark(folder, repos or ())
    builds, results = [], []
    for repo in tqdm(chosen, desc="repositories", unit=" repo", disable=not progress):
        builds.append(build_repo(client, repo, paths=paths, encoder=encoder))
        alias = bench_alias(repo.name)
        units = indexed_units(client, alias, repo.root)
        mine = [task for task in tasks if task.repo == repo.name]
        covered = [covered_targets(units, task.targets) for task in mine]  # the same in every mode
        for mode in [m for m in available_modes(client, alias, paths=paths) if not modes or m in modes]:
            results += score_mode(client, repo, mine, mode, covered, paths=paths)
    return builds, results


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def format_report(builds: list[RepoBuild], results: list[QueryResult]) -> str:
    """Per mode: per repository, per category and the mean over repositories, beside semble's figures."""
    repos = [b.repo for b in builds]
    modes = list(dict.fromkeys(r.mode for r in results))
    lines = ["| repo | units | index s | re-run s | semble NDCG@10 |", "|---|---|---|---|---|"]
    for b in builds:
        published = SEMBLE.get(b.repo)
        lines.append(
            f"| {b.repo} | {b.units:,} | {b.index_s:.2f} | {b.rerun_s:.2f} | "
            + (f"{published[0]:.3f}" if published else "")
            + " |"
        )
    lines += ["", "| mode | repo | NDCG@10 | NDCG@5 | NDCG@10 all | NDCG@5 all | p50 ms | p95 ms | semble @10 / @5 |"]
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for mode in modes:
        for repo in repos:
            rows = [r for r in results if r.mode == mode and r.repo == repo]
            if not rows:
                continue
            ms = [r.ms for r in rows]
            published = SEMBLE.get(repo)
            lines.append(
                f"| {mode} | {repo} | {_mean(r.ndcg10 for r in rows):.3f} | {_mean(r.ndcg5 for r in rows):.3f} | "
                f"{_mean(r.ndcg10_all for r in rows):.3f} | {_mean(r.ndcg5_all for r in rows):.3f} | "
                f"{statistics.median(ms):.1f} | {_pct(ms, 0.95):.1f} | "
                + (f"{published[0]:.3f} / {published[1]:.3f}" if published else "")
                + " |"
            )
        per_repo = [
            _mean(r.ndcg10 for r in results if r.mode == mode and r.repo == repo)
            for repo in repos
            if any(r.mode == mode and r.repo == repo for r in results)
        ]
        known = [SEMBLE[repo][0] for repo in repos if repo in SEMBLE]
        lines.append(
            f"| {mode} | **mean** | **{_mean(per_repo):.3f}** | | | | | | "
            + (f"{_mean(known):.3f}" if len(known) == len(repos) else "")
            + " |"
        )
    lines += ["", "| mode | category | queries | NDCG@10 (mean over queries) | NDCG@10 all |", "|---|---|---|---|---|"]
    for mode in modes:
        for category in sorted({r.category for r in results}):
            rows = [r for r in results if r.mode == mode and r.category == category]
            lines.append(
                f"| {mode} | {category} | {len(rows)} | {_mean(r.ndcg10 for r in rows):.3f} | "
                f"{_mean(r.ndcg10_all for r in rows):.3f} |"
            )
    return "\n".join(lines)


def as_json(builds: list[RepoBuild], results: list[QueryResult]) -> dict:
    return {"builds": [asdict(b) for b in builds], "queries": [asdict(r) for r in results]}
