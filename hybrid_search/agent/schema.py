"""The JSON that agents read: one schema for `hybrid search --json`, `hybrid related --json` and the MCP tools.

The MCP server publishes these models as its tools' output schemas, and the CLI prints the same models'
JSON, so a test can validate one against the other (tests/test_agent.py). Fields are few and flat: an agent
pays for every token it reads.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from hybrid_search.agent import SNIPPET_LINES

__all__ = ["SNIPPET_LINES", "FolderRef", "FolderStatus", "RelatedOut", "SearchOut", "Skipped", "StatusOut", "Unit"]


class Unit(BaseModel):
    """One unit of code (a function, method, class or a module's top-level code), ranked."""

    rank: int = Field(description="1 for the best result.")
    folder: str = Field(description="The folder's label (its index alias): which folder the unit is in.")
    path: str = Field(description="The file, relative to the folder, with `/`.")
    file: str | None = Field(description="The file's absolute path on this machine (null for a corpus index).")
    start_line: int = Field(description="First line of the unit (1-based).")
    end_line: int = Field(description="Last line of the unit (inclusive).")
    kind: str = Field(description="function, method, class or module (a module's top-level code).")
    name: str = Field(description="Qualified name: `Class.method`, `func`, or the module (`pkg.util`).")
    score: float = Field(description="The ranking's own score: compare within one answer only.")
    snippet: str = Field(description="The unit's first lines of code (at most the lines asked for).")
    lines_omitted: int = Field(description="Lines of the unit left out of the snippet (0: the snippet is whole).")


class FolderRef(BaseModel):
    name: str = Field(description="The folder's label (its index alias).")
    root: str | None = Field(description="The folder on disk (null for a corpus index).")


class SearchOut(BaseModel):
    """The answer to a search over one or several folders."""

    query: str
    mode: str = Field(description="baseline, lexical, dense, hybrid or rerank: the ranking used in every folder.")
    k: int
    folders: list[FolderRef] = Field(description="The folders searched, in the order given.")
    took_ms: float = Field(description="Wall time of the search, all folders together.")
    results: list[Unit]


class RelatedOut(BaseModel):
    """Units similar to the unit at a location, by text (more-like-this) and, where the index has them, vectors."""

    target: Unit = Field(description="The unit at the location asked for (rank 0, score 0): excluded from results.")
    method: str = Field(description="`text` or `text+vector` (rank fusion of both lists).")
    took_ms: float
    results: list[Unit]


class Skipped(BaseModel):
    path: str
    reason: str


class FolderStatus(BaseModel):
    name: str = Field(description="The folder's label (its index alias).")
    root: str
    index: str | None = Field(description="The live index behind the alias (null before the first build).")
    units: int = Field(description="Units in the index.")
    files: int = Field(description="Python files found in the folder at the last update.")
    last_update: str | None = Field(description="When the index was last brought up to date (ISO 8601, UTC).")
    last_change: str = Field(description="What the last update wrote: added, updated, deleted, unchanged.")
    encoder: str | None = Field(description="The encoder of the vectors (null: lexical modes only).")
    modes: list[str] = Field(description="Search modes this index supports.")
    watching: bool = Field(description="Files are watched and changes indexed as they happen.")
    skipped: list[Skipped] = Field(description="Files left out at the last update and why (at most 50).")
    skipped_total: int
    error: str | None = Field(description="The last update's failure, if it failed (the index is then older).")


class StatusOut(BaseModel):
    elasticsearch: str = Field(description="The Elasticsearch URL the index lives in (local by default).")
    folders: list[FolderStatus]
