"""The bench's outputs: the results as JSON (docs/benchmarks.json) and as markdown tables (docs/benchmarks.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

# What follows this line in the markdown was measured by other scripts (scripts/web_load.py) and is kept.
KEPT_MARKER = "<!-- sections below are not written by scripts/bench.py; it keeps them -->"


def write_results(results: dict, out: Path, md: Path) -> None:
    """The results as JSON at `out` and their tables as markdown at `md` (keeping what follows KEPT_MARKER)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    md.parent.mkdir(parents=True, exist_ok=True)
    old = md.read_text() if md.exists() else ""
    kept = old[old.index(KEPT_MARKER) :] if KEPT_MARKER in old else ""
    md.write_text(markdown(results) + ("\n" + kept if kept else ""))


def markdown(results: dict) -> str:
    """docs/benchmarks.md: the machine, then one table per measure with a column per scale."""
    scales = results["scales"]
    table = Table(scales)
    lines = ["# Benchmarks", "", preamble(results), ""]
    lines += build_section(table)
    lines += latency_sections(table, scales)
    lines += quality_sections(table, scales)
    if results.get("growth"):
        g = results["growth"]
        lines += ["", f"## Growth from the smallest to the largest scale ({g['functions']}x the functions)", ""]
        lines += [f"- {name}: {value}x" for name, value in g.items() if name != "functions"]
    return "\n".join(lines) + "\n"


class Table:
    """A table with one column per scale; a cell whose figure is missing reads "-"."""

    def __init__(self, scales: list[dict]):
        self.scales = scales
        head = "| | " + " | ".join(f"{s['fraction']:.0%} ({s['functions']:,} fn)" for s in scales) + " |"
        self.head = [head, "|---" * (len(scales) + 1) + "|"]

    def section(self, title: str) -> list[str]:
        return ["", f"## {title}", "", *self.head]

    def row(self, label: str, get: Callable[[dict], object], fmt: str = "{}") -> str:
        cells = []
        for s in self.scales:
            try:
                cells.append(fmt.format(get(s)))
            except (KeyError, TypeError):
                cells.append("-")
        return f"| {label} | " + " | ".join(cells) + " |"


def preamble(results: dict) -> str:
    m, es, scales = results["machine"], results["elasticsearch"], results["scales"]
    return (
        f"Measured {results['started']} with `scripts/bench.py` on {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB memory, Python {m['python']}; Elasticsearch {es['version']} local node, "
        f"heap {scales[-1]['memory']['heap_max_mb'] if scales else '?'} MB. Queries: the "
        f"{results['queries']['challenge']} challenge queries plus {results['queries']['valid']} valid docstring "
        f"queries, one at a time, k {results['config']['k']} (as `hybrid eval` asks). Samples are nested (hash of "
        "the function id) and all hold every annotated function, so NDCG is comparable across scales."
    )


def build_section(table: Table) -> list[str]:
    row = table.row
    return [
        "## Build and memory",
        "",
        *table.head,
        row("text-only index: seconds", lambda s: s["build_text"]["seconds"]),
        row("text-only index: docs/s", lambda s: s["build_text"]["docs_per_s"], "{:,}"),
        row("text-only index: size MB", lambda s: s["build_text"]["size_mb"]),
        row("encoding alone: seconds", lambda s: s["encode"]["seconds"]),
        row("encoding alone: functions/s", lambda s: s["encode"]["functions_per_s"], "{:,}"),
        row("index with vectors: seconds (encoding included)", lambda s: s["build_vectors"]["seconds"]),
        row("index with vectors: docs/s", lambda s: s["build_vectors"]["docs_per_s"], "{:,}"),
        row("index with vectors: size MB", lambda s: s["build_vectors"]["size_mb"]),
        row("ES heap max / used MB", lambda s: f"{s['memory']['heap_max_mb']} / {s['memory']['heap_used_mb']}"),
        row("ES process RSS MB", lambda s: s["memory"]["rss_mb"]),
        row("bm25s index: seconds", lambda s: s["bm25s_index_seconds"]),
        row("bytes per function: index on disk", lambda s: s["memory_per_function"]["index_bytes"], "{:,}"),
        row("bytes per function: ES heap used", lambda s: s["memory_per_function"]["heap_used_bytes"], "{:,}"),
        row("bytes per function: ES process RSS", lambda s: s["memory_per_function"]["rss_bytes"], "{:,}"),
    ]


def latency_sections(table: Table, scales: list[dict]) -> list[str]:
    first = scales[0] if scales else {"latency_ms": {}, "took_ms": {}, "qps": {}}
    lines = table.section("Latency per query, client wall time, ms (p50 / p95 / p99)")
    lines += [table.row(name, lambda s, n=name: _p(s["latency_ms"][n])) for name in first["latency_ms"]]
    lines += table.section("ES `took`, ms (p50 / p95 / p99): time inside Elasticsearch")
    lines += [table.row(name, lambda s, n=name: _p(s["took_ms"][n])) for name in first["took_ms"]]
    lines += table.section("Queries per second (1 / 4 concurrent clients, k 10; rerank's cache warm by then)")
    lines += [
        table.row(name, lambda s, n=name: " / ".join(f"{v:.1f}" for v in s["qps"][n].values())) for name in first["qps"]
    ]
    return lines


def quality_sections(table: Table, scales: list[dict]) -> list[str]:
    systems = list(scales[0]["ndcg"]) if scales else []  # the round trip ranks nothing
    lines = table.section("Quality on the sample: NDCG Within / All (99 queries), HNSW recall vs exact")
    lines += [
        table.row(f"NDCG {name}", lambda s, n=name: f"{s['ndcg'][n]['within']:.4f} / {s['ndcg'][n]['all']:.4f}")
        for name in systems
    ]
    lines.append(table.row("HNSW recall@10", lambda s: s["hnsw_recall"]["@10"]))
    lines.append(table.row("HNSW recall@100", lambda s: s["hnsw_recall"]["@100"]))
    lines += table.section("Ratios from the same run (ours / peer; below 1 is faster)")
    lines += [table.row(name, lambda s, n=name: s["ratios"][n]) for name in (scales[0]["ratios"] if scales else [])]
    return lines


def _p(values: dict) -> str:
    return f"{values['p50']:.1f} / {values['p95']:.1f} / {values['p99']:.1f}"
