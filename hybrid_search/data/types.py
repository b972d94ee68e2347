"""The record types every reader yields and every stage consumes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from hybrid_search.data.code import rest_of_docstring

_LINES = re.compile(r"#L(\d+)-L(\d+)$")


@dataclass(frozen=True, slots=True)
class Function:
    """One Python function of the corpus, identified by its CSN GitHub url."""

    url: str
    repo: str
    path: str
    func_name: str
    code: str
    docstring: str = ""
    sha: str = ""
    start_line: int = 0
    end_line: int = 0
    partition: str = ""
    language: str = "python"

    @property
    def doc_id(self) -> str:
        return doc_id(self.url)

    def masked(self) -> Function:
        """This function without its docstring (the valid protocol's target: its docstring is the query)."""
        return replace(self, docstring="")

    def without_summary(self) -> Function:
        """This function with its docstring's first paragraph cut (the rest kept): how the valid protocol shows
        every candidate, target and distractors alike, to a model that reads docstrings (pipeline/valid.py)."""
        return replace(self, docstring=rest_of_docstring(self.docstring))


def doc_id(url: str) -> str:
    """Elasticsearch _id for a url: stable across runs (re-indexing overwrites) and within ES's 512-byte limit."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def lines_from_url(url: str) -> tuple[int, int]:
    """`...#L12-L40` -> (12, 40); (0, 0) when the url carries no line range."""
    match = _LINES.search(url)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)
