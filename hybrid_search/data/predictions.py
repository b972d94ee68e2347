"""CSN submission files: `query,language,identifier,url`, one row per result, in rank order."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from hybrid_search.data.annotations import csv_rows

PREDICTION_COLUMNS = ("query", "language", "identifier", "url")
CSN_MAX_ROWS_PER_QUERY = 300


def write_predictions(path: Path, rows: Iterable[tuple[str, str, str, str]]) -> int:
    """Write (query, language, identifier, url) rows; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PREDICTION_COLUMNS)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def read_predictions(
    path: Path, language: str = "python", max_per_query: int = CSN_MAX_ROWS_PER_QUERY
) -> dict[str, list[str]]:
    """Ranked urls per lower-cased query for one language, capped at `max_per_query` rows (CSN reads 300)."""
    ranked: dict[str, list[str]] = defaultdict(list)
    for _, row in csv_rows(path, ("query", "language", "url")):
        if (row["language"] or "").lower() == language.lower():
            ranked[(row["query"] or "").lower()].append(row["url"])
    return {query: urls[:max_per_query] for query, urls in ranked.items()}
