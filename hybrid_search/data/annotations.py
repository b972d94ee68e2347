"""The 99 CSN queries (queries.csv) and their human relevance annotations (annotationStore.csv)."""

from __future__ import annotations

import csv
import io
import math
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
    """Queries in file order (column `query`); a file without any is an error, not an evaluation of nothing."""
    queries = [row["query"].strip() for _, row in csv_rows(path, ("query",)) if row["query"] and row["query"].strip()]
    if not queries:
        raise HybridError(f"{path}: no queries under the 'query' header")
    return queries


# pandas.read_csv's default NA strings (pandas/_libs/parsers.pyx STR_NA_VALUES): CSN reads these as NaN.
PANDAS_NA = frozenset(
    [
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)
MAX_RELEVANCE = 3  # CSN's annotation scale: 0 (irrelevant) to 3 (exact match)


def load_qrels(path: Path, language: str = "python") -> Qrels:
    """Mean relevance over annotators for each (query, url) of one language, as CSN's evaluator builds it.

    CSN groups rows by (Query, Language, GitHubUrl) before lower-casing the query, then keys by the
    lower-cased query. Missing grades follow CSN's relevanceeval.py, which reads the file with pandas and
    averages with `pivot_table(aggfunc=np.mean)`: an empty cell or one of pandas' NA strings (`NaN`, `NA`,
    `null`, ...) is NaN, left out of the mean, and a (query, url) with no grade at all is dropped. What CSN
    does not define is refused with file:line: `inf` (its NDCG becomes NaN), and values off the 0-3 scale
    (`1e308` overflows 2**rel - 1, `3.5` and `-1` are no annotator's grade).
    """
    grades: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for line, row in csv_rows(path, ANNOTATION_COLUMNS):
        if (row["Language"] or "").lower() != language.lower():
            continue
        value = (row["Relevance"] or "").strip()
        if value and value not in PANDAS_NA:
            grades[(row["Query"], row["Language"], row["GitHubUrl"])].append(_grade(value, f"{path}:{line}"))
    qrels: Qrels = defaultdict(dict)
    for (query, _language, url), values in sorted(grades.items()):
        qrels[query.lower()][url] = sum(values) / len(values)
    return dict(qrels)


def _grade(value: str, where: str) -> float:
    try:
        grade = float(value)
    except ValueError:
        raise HybridError(f"{where}: column 'Relevance' is not a number: {value!r}") from None
    if not math.isfinite(grade):  # a NaN spelling pandas does not know (`NAN`, `+nan`) lands here too
        raise HybridError(f"{where}: column 'Relevance' is not a finite number: {value!r}")
    if not 0 <= grade <= MAX_RELEVANCE:
        raise HybridError(f"{where}: column 'Relevance' is outside CSN's 0-{MAX_RELEVANCE} scale: {value!r}")
    return grade


def annotated_urls(folder: Path) -> set[str]:
    """Urls of every annotated function in `folder`'s annotationStore.csv (any language); empty if absent.

    Used only to keep annotated functions out of training and valid queries.
    """
    path = folder / "annotationStore.csv"
    if not path.exists():
        return set()
    return {row["GitHubUrl"] for _, row in csv_rows(path, ("GitHubUrl",)) if row["GitHubUrl"]}
