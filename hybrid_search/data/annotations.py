"""The 99 CSN queries (queries.csv) and their human relevance annotations (annotationStore.csv)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from hybrid_search import HybridError

Qrels = dict[str, dict[str, float]]  # query (lower-cased, as CSN keys it) -> url -> mean relevance
ANNOTATION_COLUMNS = ("Language", "Query", "GitHubUrl", "Relevance")


def csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """(line number, row) of a UTF-8 CSV file (a spreadsheet's byte-order mark allowed) with `required` columns.

    Failures are one line naming the file and the missing column, or the line that is not UTF-8 or not CSV.
    """
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise HybridError(f"file not found: {path}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HybridError(f"{path}:{line}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    for column in required:
        if column not in header:
            raise HybridError(f"{path}: missing column '{column}' (found: {', '.join(header) or 'no header'})")
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:  # e.g. a field over csv's size limit
        # DictReader's own line_num is only updated after a good row: the inner reader's is where it failed.
        raise HybridError(f"{path}:{reader.reader.line_num}: {exc}") from None


def load_queries(path: Path) -> list[str]:
    """Queries in file order (column `query`)."""
    return [row["query"].strip() for _, row in csv_rows(path, ("query",)) if row["query"] and row["query"].strip()]


def load_qrels(path: Path, language: str = "python") -> Qrels:
    """Mean relevance over annotators for each (query, url) of one language, as CSN's evaluator builds it.

    CSN groups rows by (Query, Language, GitHubUrl) before lower-casing the query, then keys by the
    lower-cased query; rows with an empty relevance are ignored (pandas drops NaN in the mean).
    """
    grades: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for line, row in csv_rows(path, ANNOTATION_COLUMNS):
        if (row["Language"] or "").lower() != language.lower():
            continue
        value = (row["Relevance"] or "").strip()
        if not value:
            continue
        try:
            grades[(row["Query"], row["Language"], row["GitHubUrl"])].append(float(value))
        except ValueError:
            raise HybridError(f"{path}:{line}: column 'Relevance' is not a number: {value!r}") from None
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
    return {row["GitHubUrl"] for _, row in csv_rows(path, ("GitHubUrl",)) if row["GitHubUrl"]}
