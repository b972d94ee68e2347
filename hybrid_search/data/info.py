"""`hybrid data info`: what a data folder holds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hybrid_search.data.annotations import load_qrels, load_queries
from hybrid_search.data.corpus import ReadReport, read_corpus


def describe_folder(folder: Path) -> str:
    """Functions per partition, queries and annotated (query, url) pairs, one line each."""
    report = ReadReport()
    partitions = Counter(f.partition for f in read_corpus(folder, report))
    lines = [f"{folder}: {report.summary()}"]
    lines += [f"  {name or '(none)':<8} {count:>9,}" for name, count in sorted(partitions.items())]
    if (folder / "queries.csv").exists():
        lines.append(f"queries: {len(load_queries(folder / 'queries.csv'))}")
    if (folder / "annotationStore.csv").exists():
        qrels = load_qrels(folder / "annotationStore.csv")
        lines.append(f"annotated python queries: {len(qrels)}, (query, url) pairs: {sum(map(len, qrels.values()))}")
    return "\n".join(lines)
