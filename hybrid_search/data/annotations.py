"""The 99 CSN queries (queries.csv) and their human relevance annotations (annotationStore.csv)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from hybrid_search import HybridError

Qrels = dict[str, dict[str, float]]  # query (lower-cased, as CSN keys it) -> url -> mean relevance
ANNOTATION_COLUMNS = ("Language", "Query", "GitHubUrl", "Relevance")


def _open_csv(path: Path, required: tuple[str, ...]) -> tuple[csv.DictReader, object]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise HybridError(f"file not found: {path}") from None
    reader = csv.DictReader(handle)
    header = reader.fieldnames or []
    for column in required:
        if column not in header:
            handle.close()
            raise HybridError(f"{path}: missing column '{column}' (found: {', '.join(header) or 'no header'})")
    return reader, handle


def load_queries(path: Path) -> list[str]:
    """Queries in file order (column `query`)."""
    reader, handle = _open_csv(path, ("query",))
    with handle:
        return [row["query"].strip() for row in reader if row["query"] and row["query"].strip()]


def load_qrels(path: Path, language: str = "python") -> Qrels:
    """Mean relevance over annotators for each (query, url) of one language, as CSN's evaluator builds it.

    CSN groups rows by (Query, Language, GitHubUrl) before lower-casing the query, then keys by the
    lower-cased query; rows with an empty relevance are ignored (pandas drops NaN in the mean).
    """
    reader, handle = _open_csv(path, ANNOTATION_COLUMNS)
    grades: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    with handle:
        for line_no, row in enumerate(reader, start=2):
            if (row["Language"] or "").lower() != language.lower():
                continue
            value = (row["Relevance"] or "").strip()
            if not value:
                continue
            try:
                grades[(row["Query"], row["Language"], row["GitHubUrl"])].append(float(value))
            except ValueError:
                raise HybridError(f"{path}:{line_no}: column 'Relevance' is not a number: {value!r}") from None
    qrels: Qrels = defaultdict(dict)
    for (query, _language, url), values in sorted(grades.items()):
        qrels[query.lower()][url] = sum(values) / len(values)
    return dict(qrels)


def annotated_urls(folder: Path) -> set[str]:
    """Urls of every annotated function in `folder`'s annotationStore.csv (any language); empty if absent.

    Used only to keep annotated functions out of training and valid queries.
    """
    path = folder / "annotationStore.csv"
    if not path.exists():
        return set()
    reader, handle = _open_csv(path, ("GitHubUrl",))
    with handle:
        return {row["GitHubUrl"] for row in reader if row["GitHubUrl"]}
