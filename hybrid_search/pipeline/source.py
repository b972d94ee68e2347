"""`hybrid index --source`: index the units of a folder on disk (data/units.py: functions, methods, classes and
module code, covering every line), then keep the index current (`--watch`: pipeline/watch.py).

The first run builds a version behind the alias as `hybrid index` does (same analyzers, vectors, merge,
count check, atomic alias move). Later runs update that live index in place, file by file:

- the index's `_meta.files` maps each file to the sha1 of its bytes when it was last indexed; a file with
  the same hash is not read again, and none of its units is touched;
- a changed or new file is parsed; each unit's document id is its identity, file path + qualified name
  (`Class.method`, a module unit named after its module, then `#2`, `#3` for repeats such as a property's
  getter and setter), never its lines (pipeline/source_documents.py); its `fn_sha` is the hash of its name,
  kind, lines, code and docstring (`content_hash`). Same id and same hash:
  unchanged, not written (a new commit alone changes nothing). Same id, other hash: updated (an edit above a
  function that only moves it counts, since its lines changed). A new id is added; an id of the file that is
  gone is deleted;
- the functions of a file that is gone are deleted;
- a file that no longer parses is reported with its line and keeps its last indexed functions.

Crash safety: before any write, the files about to be written are marked pending in `_meta.files` (an empty
hash), and their hashes are recorded only once every write succeeded; a pending file is read again by the
next run, whose per-function comparison with what the index holds then finishes the job.
"""

from __future__ import annotations

import itertools
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from elasticsearch import Elasticsearch
from elasticsearch.helpers import scan
from tqdm import tqdm

from hybrid_search import HybridError
from hybrid_search.data.checkout import (
    Checkout,
    SourceFile,
    Walk,
    open_checkout,
    read_source,
    walk,
)
from hybrid_search.data.extract import ParseFailure
from hybrid_search.data.types import Function
from hybrid_search.data.units import extract_units
from hybrid_search.es import indexing, lease
from hybrid_search.es.bulk import bulk_load
from hybrid_search.es.documents import Doc, index_actions
from hybrid_search.es.mappings import version_body
from hybrid_search.es.queries import functions_of_paths
from hybrid_search.pipeline.build import body_digest, vectors_of
from hybrid_search.pipeline.source_documents import Document, unit_documents
from hybrid_search.retrieval.codebase import KIND  # `_meta.build.kind` of an index made from a folder

if TYPE_CHECKING:  # torch is imported only when an encoder is used
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.encoder.resolve import DeferredEncoder

PENDING = ""  # the hash of a file whose writes have not all succeeded yet
# What a file is cut into and what each unit records (data/units.py, data/roles.py): another value builds a new
# version, since units indexed by another reading would not be compared like for like.
UNITS_VERSION = 2


@dataclass
class SyncReport:
    alias: str
    index: str = ""
    root: str = ""
    files: int = 0  # Python files found
    read: int = 0  # of those, read and parsed this run (new, changed or pending)
    python2: int = 0  # read by the tree-sitter fallback (Python 2, or syntax `ast` refuses)
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    functions: int = 0  # in the index once the run is over
    failures: list[str] = field(default_factory=list)  # `path:line: message` of files that do not parse
    walk: Walk = field(default_factory=Walk)
    created: bool = False  # a new version was built (first run, --rebuild, other encoder or mappings)
    previous: str | None = None
    encoder: str = ""
    seconds: float = 0.0
    encode_seconds: float = 0.0

    @property
    def written(self) -> int:
        return self.added + self.updated


def default_alias(root: Path) -> str:
    """The alias of a folder when none is given: its name in lower case, other characters as `-`."""
    name = re.sub(r"[^a-z0-9_-]+", "-", root.resolve().name.lower()).strip("-_")
    return indexing.validate_name(name or "source")


def source_build(checkout: Checkout, encoder: Encoder | DeferredEncoder | None) -> dict:
    """What the index was made for: kind, folder, vectors, settings and mappings. Another value builds anew."""
    build = {
        "kind": KIND,
        "source": str(checkout.root),
        "index": body_digest(source_body(encoder)),
        "units": UNITS_VERSION,
    }
    if encoder is not None:
        build["encoder"] = {"name": encoder.name, "weights": encoder.fingerprint()}
    return build


def source_body(encoder: Encoder | None) -> dict:
    return version_body(vectors=vectors_of(encoder), source_fields=True)


def choose_encoder(
    client: Elasticsearch, alias: str, name: str | None, *, models: Path, reads_docstring: bool | None = None
) -> DeferredEncoder | None:
    """The encoder named, else the one of the live index (a re-run keeps its vectors), else `nbow` when it is
    trained; None (lexical modes only) when there is none. Loaded only when something is encoded. Its code
    side reads docstrings as `reads_docstring` says, else as the live index's vectors were made when it keeps
    them, else as the folder's default (`resolve.reads_docstring_by_default`)."""
    from hybrid_search.encoder.folders import (
        model_folder,
        reads_docstring_by_default,
        reads_docstring_of,
        weights_fingerprint,
    )
    from hybrid_search.encoder.resolve import DeferredEncoder

    live = indexing.aliased_index(client, alias)
    meta = indexing.index_meta(client, live) if live else {}
    ours = meta.get("build", {}).get("kind") == KIND
    recorded_weights = meta.get("build", {}).get("encoder", {}).get("weights") or ""
    if name:
        folder = model_folder(name, models=models)
    elif ours and "encoder" in meta:
        recorded = meta.get("encoder_path") or ""
        folder = (
            Path(recorded) if Path(recorded, "config.json").is_file() else model_folder(meta["encoder"], models=models)
        )
    elif ours:
        return None  # built without vectors: stays so unless --encoder says otherwise
    else:
        try:
            folder = model_folder("nbow", models=models)
        except HybridError:
            return None
    if reads_docstring is not None:
        reads = reads_docstring
    elif not name and ours:
        reads = reads_docstring_of(recorded_weights)  # the live index's vectors, kept as they were made
    else:
        reads = reads_docstring_by_default(folder)
    same_vectors = recorded_weights == weights_fingerprint(folder, reads)
    return DeferredEncoder(folder, dims=meta.get("dims") if ours and same_vectors else None, reads_docstring=reads)


# ---------------------------------------------------------------- the index side


def stored_functions(client: Elasticsearch, index: str, paths: list[str]) -> dict[str, dict[str, str]]:
    """path -> {doc id: fn_sha} of what `index` holds for these files."""
    stored: dict[str, dict[str, str]] = {}
    for start in range(0, len(paths), 1000):
        body = functions_of_paths(paths[start : start + 1000])
        for hit in scan(client, index=index, query=body, size=1000):
            source = hit["_source"]
            stored.setdefault(source["path"], {})[hit["_id"]] = source.get("fn_sha", "")
    return stored


def _write_files_table(client: Elasticsearch, index: str, files: dict[str, str]) -> None:
    meta = indexing.index_meta(client, index)
    client.indices.put_mapping(index=index, meta={**meta, "files": files})


def _target(client: Elasticsearch, alias: str, build: dict, checkout: Checkout, encoder, rebuild: bool):
    """(index to write, its files table, True when it is a version being built) for this run."""
    live = indexing.aliased_index(client, alias)
    meta = indexing.index_meta(client, live) if live else {}
    if live and meta.get("build", {}).get("kind") != KIND:
        raise HybridError(
            f"alias '{alias}' holds an index that was not built from a source folder ({live}); "
            "choose another name with --index"
        )
    if live and meta["build"].get("source") != build["source"] and not rebuild:
        raise HybridError(
            f"alias '{alias}' holds the functions of {meta['build'].get('source')}, not of {checkout.root}; "
            "choose another name with --index, or --rebuild to replace them"
        )
    if live and meta.get("build") == build and not rebuild:
        return live, dict(meta.get("files") or {}), False
    # A first run, --rebuild, or other vectors or mappings: a new version (or the one a crash left unfinished).
    resumed = indexing.resumable_index(client, alias, build, building_only=True)
    if resumed:
        client.indices.put_alias(index=resumed, name=indexing.load_alias(resumed))
        return resumed, dict(indexing.index_meta(client, resumed).get("files") or {}), True
    return indexing.create_version(client, alias, build, source_body(encoder)), {}, True


# ---------------------------------------------------------------- the run


def sync_source(
    client: Elasticsearch,
    root: Path,
    alias: str,
    *,
    encoder: Encoder | None = None,
    rebuild: bool = False,
    progress: bool = True,
    chunk_size: int = 500,
    max_retries: int = 5,
    writers: int = 2,
) -> SyncReport:
    """Index the units of the folder `root` behind `alias`, or bring that index up to date with it.

    See the module docstring for what is compared and written. Raises HybridError (one line) when the
    alias holds something else, or when Elasticsearch refused writes (the run can be repeated).
    """
    started = time.monotonic()
    indexing.validate_name(alias)
    indexing.refuse_concrete_index(client, alias)
    checkout = open_checkout(root)
    found = walk(checkout)
    build = source_build(checkout, encoder)
    report = SyncReport(alias=alias, root=str(checkout.root), files=len(found.files), walk=found)
    report.encoder = encoder.name if encoder else ""
    index, table, building = _target(client, alias, build, checkout, encoder, rebuild)
    report.index, report.created = index, building

    current = {file.path: file for file in found.files}
    to_read = [file for file in found.files if table.get(file.path) != file.sha]
    gone = sorted(path for path in table if path not in current)
    if not to_read and not gone and not building:
        report.unchanged = report.functions = client.count(index=index)["count"]
        report.seconds = time.monotonic() - started
        return report

    # Mark what is about to change, so that a crash leaves it to be read again (module docstring).
    pending = {**table, **{path: PENDING for path in [file.path for file in to_read] + gone}}
    if pending != table:
        _write_files_table(client, index, pending)
    before = client.count(index=index)["count"]
    with lease.Renewal(client, index) if building else nullcontext():
        stored = stored_functions(client, index, [file.path for file in to_read] + gone)
        writes, deletes, final, expected = _plan(checkout, to_read, gone, stored, pending, report, progress)
        report.unchanged += before - sum(len(ids) for ids in stored.values())  # in files not read
        target = indexing.load_alias(index) if building else alias  # bulk writes go through an alias
        bulk = {"chunk_size": chunk_size, "max_retries": max_retries, "writers": writers}
        _apply(client, target, writes, deletes, encoder, report, progress, bulk)
    if building:
        indexing.merge_segments(client, index)
        report.previous = indexing.finish_version(client, index, alias, expected, {"files": final})
    else:
        client.indices.refresh(index=index)
        _write_files_table(client, index, final)
    report.functions = client.count(index=index)["count"]
    report.seconds = time.monotonic() - started
    return report


def _plan(
    checkout: Checkout,
    to_read: list[SourceFile],
    gone: list[str],
    stored: dict[str, dict[str, str]],
    pending: dict[str, str],
    report: SyncReport,
    progress: bool,
) -> tuple[list[tuple[str, Document]], list[str], dict[str, str], int]:
    """(writes, deletes, the files table once they are done, functions in the read files afterwards)."""
    writes: list[tuple[str, Document]] = []
    deletes: list[str] = []
    final = dict(pending)
    expected = 0
    for file in tqdm(to_read, desc="reading", unit=" files", disable=not progress):
        old = stored.get(file.path, {})
        try:
            text, sha = read_source(file)
            units, parser = extract_units(text)
        except ParseFailure as failure:
            report.failures.append(f"{file.path}:{failure.line}: {failure.message}")
        except (OSError, ValueError, LookupError) as error:  # gone since the walk, or not decodable
            report.failures.append(f"{file.path}:1: cannot be read as Python source ({error})")
        else:
            report.read += 1
            report.python2 += parser == "tree-sitter"
            documents = unit_documents(checkout, file.path, units)
            writes += _compare(documents, old, report)
            deletes += [doc_id for doc_id in old if doc_id not in documents]
            final[file.path] = sha
            expected += len(documents)
            continue
        # Kept as last indexed, untouched; the file stays pending, so it is read (and reported) again next time.
        report.unchanged += len(old)
        expected += len(old)
    for path in gone:
        deletes += list(stored.get(path, {}))
        del final[path]
    report.deleted = len(deletes)
    return writes, deletes, final, expected


def _compare(documents: dict[str, Document], old: dict[str, str], report: SyncReport) -> list[tuple[str, Document]]:
    """The documents to write (new ids and changed hashes), counted as added, updated or unchanged."""
    writes = []
    for doc_id, document in documents.items():
        if old.get(doc_id) == document[1]:
            report.unchanged += 1
            continue
        writes.append((doc_id, document))
        if doc_id in old:
            report.updated += 1
        else:
            report.added += 1
    return writes


def _apply(
    client: Elasticsearch,
    target: str,
    writes: list[tuple[str, Document]],
    deletes: list[str],
    encoder: Encoder | None,
    report: SyncReport,
    progress: bool,
    bulk: dict,
) -> None:
    """Delete, then write (encoding as it goes, `bulk` as `bulk_load` takes it); refused writes are one
    HybridError line."""

    def timed_encode(functions: list[Function]):
        started = time.monotonic()
        vectors = encoder.encode_functions(functions)
        report.encode_seconds += time.monotonic() - started
        return vectors

    docs = (Doc(doc_id, function, {"fn_sha": digest, **fields}) for doc_id, (function, digest, fields) in writes)
    removals = ({"_op_type": "delete", "_index": target, "_id": doc_id} for doc_id in deletes)
    actions = itertools.chain(removals, index_actions(docs, target, timed_encode if encoder else None, chunk=512))
    total = len(writes) + len(deletes)
    with tqdm(total=total, unit=" fn", desc=f"writing {target}", disable=not progress or not total) as bar:
        result = bulk_load(client, actions, on_done=bar.update, **bulk)
    deleting = set(deletes)
    refused = [r for r in result.failed if not (r.status == 404 and r.doc_id in deleting)]  # already gone: fine
    if refused:
        first = refused[0]
        raise HybridError(
            f"Elasticsearch refused {len(refused):,} of {total:,} writes to {target} (first: {first.doc_id}, "
            f"{first.status} {first.reason}); the files involved stay pending: re-run the same command"
        )


# ---------------------------------------------------------------- what the command prints, and --watch


def describe_sync(report: SyncReport, shown_failures: int = 20) -> list[str]:
    """Lines for a finished `sync_source`: skipped files, files that do not parse, and the counts."""
    walked = report.walk
    skipped = [f"{len(items):,} {what}" for items, what in walked.skipped() if items]
    lines = [f"{report.root}: {report.files:,} Python files" + (f" ({', '.join(skipped)} skipped)" if skipped else "")]
    for failure in report.failures[:shown_failures]:
        lines.append(f"skipped {failure}")
    if len(report.failures) > shown_failures:
        lines.append(f"... and {len(report.failures) - shown_failures:,} more files that do not parse")
    python2 = f", {report.python2:,} read as Python 2" if report.python2 else ""
    counts = (
        f"{report.added:,} added, {report.updated:,} updated, {report.deleted:,} deleted, "
        f"{report.unchanged:,} unchanged ({report.read:,} files read{python2})"
    )
    rate = report.written / report.seconds if report.seconds else 0
    timing = f"in {report.seconds:.1f}s ({rate:,.0f} functions/s written" + (
        f", {report.encode_seconds:.1f}s encoding with {report.encoder})" if report.encoder else ", no vectors)"
    )
    if not report.encoder and report.created:
        lines.append("no vectors (no trained encoder; see `hybrid train`, then --encoder): lexical modes only")
    if report.created:
        lines.append(
            f"built {report.index}: {counts}; {report.functions:,} functions {timing}; alias {report.alias} -> "
            f"{report.index}"
            + (f" (was {report.previous}; `hybrid indices prune` deletes it)" if report.previous else "")
        )
    else:
        lines.append(f"updated {report.alias} ({report.index}): {counts}; {report.functions:,} functions {timing}")
    return lines
