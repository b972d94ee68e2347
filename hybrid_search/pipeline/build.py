"""`hybrid index`: stream a corpus into a new (or resumed) versioned index, then swap the alias."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from elasticsearch import Elasticsearch
from tqdm import tqdm

from hybrid_search import HybridError
from hybrid_search.data.corpus import ReadReport, corpus_files, count_records, read_corpus
from hybrid_search.data.types import Function
from hybrid_search.es import indexing, lease
from hybrid_search.es.bulk import BulkResult, Rejected, bulk_load
from hybrid_search.es.documents import docs_of, index_actions
from hybrid_search.es.layout import IndexLayout, data_node_count, default_layout
from hybrid_search.es.mappings import Vectors, version_body

if TYPE_CHECKING:  # torch is imported only when an encoder is used
    from hybrid_search.encoder.encoder import Encoder


@dataclass
class BuildReport:
    index: str
    alias: str
    read: ReadReport
    indexed: int = 0
    duplicates: int = 0
    failed: list[Rejected] = field(default_factory=list)
    previous: str | None = None
    resumed: bool = False
    up_to_date: bool = False
    swapped: bool = False  # the alias now points at `index`
    reused: bool = False  # an older version complete from this build was made live again, nothing re-sent
    seconds: float = 0.0
    merge_seconds: float = 0.0  # of `seconds`, the final force-merge
    layout: IndexLayout = field(default_factory=IndexLayout)


def vectors_of(encoder) -> Vectors | None:
    """What a version's vector field records of the encoder that fills it (es/ knows no encoder)."""
    return Vectors(encoder.dims, encoder.name, str(encoder.path or "")) if encoder is not None else None


def source_fingerprint(source: Path, limit: int | None, encoder: Encoder | None = None, shards: int = 1) -> dict:
    """Identifies a build (files, sizes, mtimes, limit, encoder weights, index settings, mappings and shard
    count) so that a crashed build resumes, and a version made with other mappings or settings is never
    resumed into. Replicas and the search type are left out: they change on a live index without a rebuild."""
    digest = hashlib.sha1()
    for path in corpus_files(source):
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode())
    build = {"source": str(source.resolve()), "files": digest.hexdigest(), "limit": limit or 0}
    if encoder is not None:
        build["encoder"] = {"name": encoder.name, "weights": encoder.fingerprint()}
    layout = IndexLayout(shards=shards) if shards != 1 else None
    build["index"] = body_digest(version_body(vectors=vectors_of(encoder), layout=layout))
    return build


def body_digest(body: dict) -> str:
    """A short hash of an index's settings and mappings, `_meta` left out (where the encoder's files are is
    not what the index holds)."""
    body = {**body, "mappings": {k: v for k, v in body["mappings"].items() if k != "_meta"}}
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def build_index(
    client: Elasticsearch,
    source: Path,
    alias: str,
    limit: int | None = None,
    strict: bool = False,
    progress: bool = True,
    rebuild: bool = False,
    encoder: Encoder | None = None,
    chunk_size: int = 500,
    max_retries: int = 5,
    layout: IndexLayout | None = None,
    writers: int = 2,
) -> BuildReport:
    """Index every function at `source` (or the first `limit`) behind `alias`; resumes a crashed build.

    Does nothing (`up_to_date`) when the live index was completed from the same files, unless `rebuild`
    (or `strict` and that build skipped bad records).
    With `encoder`, the same single pass over the corpus also fills the `embedding` vectors (kNN).
    The alias moves only when every document read is indexed, or refused by ES for good (its own mapping
    error, listed in `failed`). Documents still refused with 429 or a server error after `max_retries`
    leave the alias where it was and the build resumable (`swapped` False); so does indexing nothing.
    `layout`: shards, replicas and search type (default: `default_layout` for this cluster and corpus).
    Each write waits for `layout.active_copies` copies and a document fewer copies acknowledged counts as
    refused (transient): the build is then left resumable, never served short of its replicas.
    """
    started = time.monotonic()
    indexing.validate_name(alias)
    indexing.refuse_concrete_index(client, alias)
    total = min(limit, count_records(source) or limit) if limit else count_records(source)
    layout = layout or default_layout(data_nodes=data_node_count(client), functions=total or 0)
    # and every corpus file checked, before any index exists
    build = source_fingerprint(source, limit, encoder, shards=layout.shards)
    if not rebuild and (current := _up_to_date(client, alias, build, strict, layout)):
        return current
    index = indexing.resumable_index(client, alias, build, building_only=rebuild)
    resumed = index is not None
    if resumed:
        client.indices.put_alias(index=index, name=indexing.load_alias(index))  # removed when it was finished
        indexing.set_layout(client, index, layout)  # replicas and search type as asked this time
        if reused := _complete_made_live(client, alias, index, strict, layout):
            return reused
    index = index or indexing.create_version(
        client, alias, build, version_body(vectors=vectors_of(encoder), layout=layout)
    )
    report = BuildReport(index=index, alias=alias, read=ReadReport(), resumed=resumed, layout=layout)
    functions = read_corpus(source, report.read, strict=strict)
    if limit:
        functions = itertools.islice(functions, limit)
    bar = tqdm(total=total, unit=" fn", desc=f"indexing {index}", disable=not progress, smoothing=0.05)
    with bar, lease.Renewal(client, index):  # a prune or another build leaves this version alone meanwhile
        seen: set[str] = set()
        bulk = {
            "chunk_size": chunk_size,
            "max_retries": max_retries,
            "copies": layout.active_copies,
            "writers": writers,
        }
        result = _load(client, index, _unique(functions, seen, report), encoder, bar.update, bulk)
        report.indexed, report.failed = result.indexed, result.failed
        report.seconds = time.monotonic() - started
        if not seen:
            raise HybridError(f"no functions could be read from {source}; nothing indexed ({report.read.summary()})")
        _check_target(client, index, result)
        if result.transient or not result.indexed:
            report.previous = indexing.aliased_index(client, alias)
            return report
        if progress:
            tqdm.write(f"merging {index} into one segment (about 2 minutes for the full corpus) ...", file=sys.stderr)
        report.merge_seconds = indexing.merge_segments(client, index)
    notes = {"rejected": len(result.failed), "skipped": report.read.skipped}
    report.previous = indexing.finish_version(client, index, alias, len(seen) - len(result.failed), notes)
    report.swapped = True
    report.seconds = time.monotonic() - started
    return report


def _unique(functions: Iterable[Function], seen: set[str], report: BuildReport) -> Iterator[Function]:
    """Each function once (the first of a url read twice), the repeats counted as duplicates."""
    for function in functions:
        if function.doc_id in seen:
            report.duplicates += 1
            continue
        seen.add(function.doc_id)
        yield function


def _load(client: Elasticsearch, index: str, functions, encoder, on_done, bulk: dict) -> BulkResult:
    """Write the functions (with their vectors, when there is an encoder) into `index` through its load alias."""
    encode = encoder.encode_functions if encoder else None
    actions = index_actions(docs_of(functions), indexing.load_alias(index), encode=encode)
    return bulk_load(client, actions, on_done=on_done, **bulk)


def _up_to_date(
    client: Elasticsearch, alias: str, build: dict, strict: bool, layout: IndexLayout
) -> BuildReport | None:
    """The report of a build with nothing to do: the live version was completed from this very build (its
    replicas and search type are set to `layout`'s, which needs no rebuild)."""
    live = indexing.aliased_index(client, alias)
    meta = indexing.index_meta(client, live) if live else {}
    # --strict re-reads a corpus whose last build skipped bad records, to stop at the first one.
    if meta.get("status") == "complete" and meta.get("build") == build and not (strict and meta.get("skipped")):
        indexing.set_layout(client, live, layout)
        return BuildReport(
            index=live, alias=alias, read=ReadReport(), indexed=meta.get("count", 0), up_to_date=True, layout=layout
        )
    return None


def _complete_made_live(
    client: Elasticsearch, alias: str, index: str, strict: bool, layout: IndexLayout
) -> BuildReport | None:
    """The report of making an older version live again as it is, when it was completed from this very build
    (a mappings or shard change reverted, or a crash between its count check and the alias move): it holds
    every document already, so nothing is read or re-sent. None for an unfinished version (resumed by sending
    every document again) or, with --strict, one that skipped bad records."""
    meta = indexing.index_meta(client, index)
    if meta.get("status") != "complete" or (strict and meta.get("skipped")):
        return None
    count = int(meta.get("count", 0))
    previous = indexing.finish_version(client, index, alias, count)  # checks the count again, moves the alias
    return BuildReport(
        index=index,
        alias=alias,
        read=ReadReport(),
        indexed=count,
        previous=previous,
        resumed=True,
        swapped=True,
        reused=True,
        layout=layout,
    )


def _check_target(client: Elasticsearch, index: str, result: BulkResult) -> None:
    """Writes refused with 404 lost their target: a version deleted mid-build must fail the build, not be
    counted as documents refused for good (and then served without them)."""
    if not any(r.status == 404 for r in result.failed):
        return
    if not client.indices.exists(index=index):
        raise HybridError(
            f"{index} was deleted while it was being built (by hand, or by a prune that does not check builds); "
            "nothing was made live; re-run the command to build a new version"
        )
    raise HybridError(
        f"the load alias {indexing.load_alias(index)} of {index} was removed while it was being built; "
        "re-run the same command to resume"
    )


def write_rejects(path: Path, rejected: list[Rejected]) -> Path | None:
    """The documents ES refused, one a line: id, HTTP status, reason (tab-separated, with a header)."""
    if not rejected:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["id\tstatus\treason\n", *(f"{r.doc_id}\t{r.status}\t{r.reason}\n" for r in rejected)]
    path.write_text("".join(lines))
    return path


def describe_build(report: BuildReport, rejects: Path | None) -> tuple[list[str], str | None]:
    """(lines to print, failure line or None) for a finished `build_index`; exit code 3 goes with a failure."""
    if report.up_to_date:
        line = (
            f"{report.alias} -> {report.index} already holds this corpus ({report.indexed:,} documents); "
            "nothing to do (--rebuild forces a new version)"
        )
        return [line], None
    if report.reused:
        line = (
            f"alias {report.alias} -> {report.index}, a version already complete from this corpus and these "
            f"settings ({report.indexed:,} documents; nothing re-sent)"
            + (f" (was {report.previous}; delete old versions with `hybrid indices prune`)" if report.previous else "")
        )
        return [line], None
    lines = [report.read.summary()]
    if report.duplicates:
        lines.append(f"{report.duplicates:,} records repeated an earlier url and were indexed once")
    if not report.swapped:
        transient = sum(r.transient for r in report.failed)
        return lines, (
            f"{len(report.failed):,} of {report.indexed + len(report.failed):,} documents were refused by "
            f"Elasticsearch ({transient:,} by back-pressure or server errors), listed in {rejects}; {report.index} "
            f"is unfinished and alias {report.alias} still points to {report.previous or 'nothing'}; "
            + ("re-run the same command to retry them" if transient else "nothing could be indexed")
        )
    rate = report.indexed / report.seconds if report.seconds else 0
    layout = report.layout
    lines.append(
        f"{'resumed and finished' if report.resumed else 'built'} {report.index}: {report.indexed:,} documents "
        f"in {report.seconds:.0f}s ({rate:,.0f} docs/s, of which {report.merge_seconds:.0f}s merging segments); "
        f"alias {report.alias} -> {report.index} ({layout.shards} shards, {layout.replicas} replicas, "
        f"{layout.search_type})"
        + (f" (was {report.previous}; delete old versions with `hybrid indices prune`)" if report.previous else "")
    )
    failure = f"{len(report.failed):,} documents were rejected by Elasticsearch; listed in {rejects}"
    return lines, failure if report.failed else None
