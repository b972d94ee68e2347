"""Readers for function corpora, all yielding `Function`.

Formats:
- CSN-style shards (`corpus/*.jsonl.gz`, the shared rebuilt corpus) and the official CSN Python splits
  (`python/final/jsonl/{train,valid,test}/*.jsonl.gz`): one JSON object a line, read by one parser since
  both carry url, repo, path, func_name, code (official: also original_string), docstring, partition.
- The official `python_dedupe_definitions_v2.pkl` (CSN's retrieval pool for the 99 queries): a pickled
  list of dicts with nwo, path, identifier, function, docstring, url.

Bad records never stop a run by default: each is reported with file:line in a `ReadReport` and skipped;
`strict=True` raises on the first one instead.
"""

from __future__ import annotations

import errno
import gzip
import json
import pickle
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_search import HybridError
from hybrid_search.data.types import Function, lines_from_url

DEDUPE_PICKLE = "python_dedupe_definitions_v2.pkl"
REQUIRED_FIELDS = ("url", "repo", "path", "func_name")
# CSN's largest Python function is ~35 KB; anything near a megabyte is generated code or data, not a function,
# and would bloat bulk requests and the analyzers' work. A record line (official format: code twice, plus
# tokens) may be a few times its code; longer lines are skipped without being held in memory.
MAX_CODE_BYTES = 1_000_000
MAX_LINE_BYTES = 8 * MAX_CODE_BYTES


class DataError(HybridError):
    """A corpus problem in strict mode, or an unusable data source."""


@dataclass
class ReadReport:
    """Counts of what was read and what was skipped, with the first few problems kept for display."""

    read: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    max_kept: int = 20

    def reject(self, where: str, reason: str, strict: bool) -> None:
        if strict:
            raise DataError(f"{where}: {reason}")
        self.skipped += 1
        if len(self.problems) < self.max_kept:
            self.problems.append(f"{where}: {reason}")

    def summary(self) -> str:
        text = f"read {self.read:,} functions, skipped {self.skipped:,} bad records"
        if self.problems:
            more = self.skipped - len(self.problems)
            text += "\n  " + "\n  ".join(self.problems) + (f"\n  ... and {more} more" if more > 0 else "")
        return text


def function_from_record(record: dict, partition: str = "") -> Function:
    """Map one CSN-style JSON record (shared shards or official splits) to a Function.

    Raises KeyError or TypeError when the record is unusable."""
    missing = [name for name in REQUIRED_FIELDS if not isinstance(record.get(name), str) or not record.get(name)]
    code = record.get("code") if isinstance(record.get("code"), str) else record.get("original_string")
    if not isinstance(code, str) or not code:
        missing.append("code")
    if missing:
        raise KeyError(f"missing or non-string field(s): {', '.join(missing)}")
    if len(code) > MAX_CODE_BYTES:  # characters: a cheap bound on the bytes
        raise ValueError(f"function code of {len(code) / 1e6:.1f} MB is over the {MAX_CODE_BYTES / 1e6:.0f} MB limit")
    docstring = record.get("docstring") or ""
    if not isinstance(docstring, str):
        raise TypeError("field docstring is not a string")
    for name in (*REQUIRED_FIELDS, "docstring"):
        _check_unicode(name, record.get(name) or "")
    _check_unicode("code", code)
    start, end = lines_from_url(record["url"])
    return Function(
        url=record["url"],
        repo=record["repo"],
        path=record["path"],
        func_name=record["func_name"],
        code=code,
        docstring=docstring,
        sha=str(record.get("sha") or ""),
        start_line=int(record.get("start_line") or start),
        end_line=int(record.get("end_line") or end),
        partition=str(record.get("partition") or partition),
    )


def _check_unicode(name: str, text: str) -> None:
    """JSON may escape lone surrogates (`"\\ud800"`): valid JSON, but not text ES, the console or MiniLM can use."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"field {name} holds invalid Unicode ({exc.reason}: {text[exc.start]!r})") from None


def read_jsonl(path: Path, report: ReadReport, strict: bool = False) -> Iterator[Function]:
    """Functions of one .jsonl or .jsonl.gz file; bad lines (and an empty file) go to `report` with file:line."""
    opener = gzip.open if path.suffix == ".gz" else open
    line_no = records = 0
    try:
        with opener(path, "rb") as handle:
            for line_no, raw in enumerate(_lines(handle, MAX_LINE_BYTES), start=1):
                if raw is None:
                    report.reject(f"{path}:{line_no}", f"record over {MAX_LINE_BYTES / 1e6:.0f} MB", strict)
                    records += 1
                    continue
                if not raw.strip():
                    continue
                records += 1
                try:
                    record = json.loads(raw.decode("utf-8"))
                    if not isinstance(record, dict):
                        raise TypeError("line is not a JSON object")
                    function = function_from_record(record)
                except UnicodeDecodeError as exc:
                    report.reject(f"{path}:{line_no}", f"invalid UTF-8 ({exc.reason} at byte {exc.start})", strict)
                    continue
                except json.JSONDecodeError as exc:
                    report.reject(f"{path}:{line_no}", f"malformed JSON ({exc.msg})", strict)
                    continue
                except (KeyError, TypeError, ValueError) as exc:
                    report.reject(f"{path}:{line_no}", str(exc).strip("'\""), strict)
                    continue
                report.read += 1
                yield function
    except FileNotFoundError:
        raise DataError(f"corpus file not found: {path}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        report.reject(f"{path}:{line_no + 1}", f"truncated or corrupt gzip ({exc}); rest of file skipped", strict)
        return
    if records == 0:
        report.reject(f"{path}:1", "empty file (no records)", strict)


def _lines(handle, limit: int) -> Iterator[bytes | None]:
    """The lines of a binary file; a line longer than `limit` bytes is read past in pieces and given as None."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
            pass
        yield None


def read_dedupe_pickle(
    path: Path, report: ReadReport, strict: bool = False, partitions: dict[str, str] | None = None
) -> Iterator[Function]:
    """Functions of the official `python_dedupe_definitions_v2.pkl` (a pickled list of dicts).

    Only unpickle files you trust: pickle can run code. The official file is the only expected input.
    """
    try:
        with path.open("rb") as handle:
            definitions = pickle.load(handle)
    except FileNotFoundError:
        raise DataError(f"corpus file not found: {path}") from None
    except (pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"{path}: not a readable pickle ({exc})") from None
    partitions = partitions or {}
    for index, definition in enumerate(definitions, start=1):
        try:
            record = {
                "url": definition["url"],
                "repo": definition.get("nwo") or definition.get("repo"),
                "path": definition["path"],
                "func_name": definition.get("identifier") or definition.get("func_name"),
                "code": definition.get("function") or definition.get("code"),
                "docstring": definition.get("docstring") or "",
                "sha": definition.get("sha") or _sha_from_url(definition["url"]),
            }
            function = function_from_record(record, partition=partitions.get(definition["url"], "pool"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            report.reject(f"{path}:{index}", str(exc).strip("'\""), strict)
            continue
        report.read += 1
        yield function


def _sha_from_url(url: str) -> str:
    parts = url.split("/")
    return parts[6] if len(parts) > 6 and parts[5] == "blob" else ""


def corpus_files(source: Path) -> list[Path]:
    """The files that make up a corpus at `source`: a file, a folder of shards, or a data folder with corpus/."""
    if source.is_file():
        return [source]
    if not source.exists():
        raise DataError(f"data not found: {source} (set --data or HYBRID_DATA)")
    for folder in (source / "corpus", source):
        if folder.is_dir():
            pickles = sorted(folder.rglob(DEDUPE_PICKLE))
            if pickles:
                return [_readable(path) for path in pickles]
            shards = sorted(folder.rglob("*.jsonl.gz")) + sorted(folder.rglob("*.jsonl"))
            if shards:
                return [_readable(path) for path in shards]
    raise DataError(f"no corpus files (*.jsonl.gz, *.jsonl or {DEDUPE_PICKLE}) under {source}")


def _readable(path: Path) -> Path:
    """`path` if it is a file that can be opened; checked up front, before a build creates its index."""
    try:
        info = path.stat()  # follows symlinks: a loop or a dangling one fails here
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise DataError(f"corpus file {path} is {kind}; move it out of the corpus folder")
        with path.open("rb"):
            pass
    except OSError as exc:
        dangling = " (a symlink to nothing)" if path.is_symlink() and exc.errno == errno.ENOENT else ""
        raise DataError(f"corpus file {path}: {exc.strerror}{dangling}") from None
    return path


def corpus_bytes(source: Path) -> int | None:
    """Bytes on disk of the corpus at `source` (gzipped where its shards are), or None when there is none.

    Sizes the local node's heap, so an absent or unreadable corpus is an answer, not an error.
    """
    try:
        return sum(path.stat().st_size for path in corpus_files(source))
    except (DataError, OSError):
        return None


def read_corpus(source: Path, report: ReadReport | None = None, strict: bool = False) -> Iterator[Function]:
    """All functions at `source`, whatever the supported format.

    With the official download, the dedupe pickle is CSN's retrieval pool; partitions come from the
    jsonl splits next to it when they are there.
    """
    report = report if report is not None else ReadReport()
    files = corpus_files(source)
    if files[0].name == DEDUPE_PICKLE:
        splits = [p for p in sorted(files[0].parent.rglob("*.jsonl.gz"))]
        yield from read_dedupe_pickle(files[0], report, strict, partitions=_partitions_of(splits))
        return
    for path in files:
        yield from read_jsonl(path, report, strict)


def _partitions_of(files: Iterable[Path]) -> dict[str, str]:
    partitions: dict[str, str] = {}
    for path in files:
        for function in read_jsonl(path, ReadReport()):
            partitions[function.url] = function.partition
    return partitions


def count_records(source: Path) -> int | None:
    """Total records for a progress bar, from corpus/MANIFEST.tsv when present (None if unknown).

    A malformed manifest is one line naming file:line (a sign of a damaged download, and the build reads it
    before creating anything).
    """
    for manifest in (source / "corpus" / "MANIFEST.tsv", source / "MANIFEST.tsv"):
        if manifest.is_file():
            try:
                lines = manifest.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(f"{manifest}: cannot be read ({exc})") from None
            return sum(_manifest_count(row, f"{manifest}:{n}") for n, row in enumerate(lines[1:], 2) if row.strip())
    return None


def _manifest_count(row: str, where: str) -> int:
    fields = row.split("\t")
    if len(fields) < 2 or not fields[1].strip().isdigit():
        raise DataError(f"{where}: expected 'file<TAB>record count', got {row[:80]!r}")
    return int(fields[1])
