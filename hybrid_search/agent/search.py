"""Searching several folders as one, and finding the code related to a location, as agents read it
(agent/schema.py).

Several folders: each folder's index is searched on its own, by the same mode and ranking a search of that
folder alone uses (a codebase's ranking reads per-file evidence that only makes sense inside one index), and
the lists are merged by score. The scores are of one form in every folder (same analyzers, ranking parameters
and, with vectors, the same encoder), so a folder with strong matches comes before one with weak ones; they
are not exactly comparable (BM25's document frequencies are each folder's own: the same match scores lower
in a folder of few units), which is why every folder gives its full k first: the merge only orders them.

Related code: the unit whose lines hold the location is the target; each folder is asked for units like it
by text (Elasticsearch's more_like_this over its name, docstring and code) and, where the index holds
vectors made by the same weights, by the cosine of its stored vector (exact). Each list is merged across
folders by score; with both, the two are fused by reciprocal rank (retrieval/fusion.py). The target itself
is excluded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from elasticsearch import Elasticsearch

from hybrid_search import HybridError
from hybrid_search.agent.folders import Folder, describe, scoped_to
from hybrid_search.agent.queries import excluding, more_like_search, stored_vector, units_of_file
from hybrid_search.agent.schema import SNIPPET_LINES, FolderRef, RelatedOut, SearchOut, Unit
from hybrid_search.config import Paths
from hybrid_search.es.indexing import aliased_index, index_meta
from hybrid_search.es.queries import exact_vector_search
from hybrid_search.es.search import retrying_search
from hybrid_search.retrieval import default_mode, index_modes, make_retriever
from hybrid_search.retrieval.base import MAX_QUERY_CHARS, Hit, hit_from_es, plain_text, visible_query
from hybrid_search.retrieval.fusion import rrf

UNIT_FIELDS = ["path", "start_line", "end_line", "func_name", "kind", "code", "docstring", "url"]
MAX_K = 100
RELATED_FIELDS = ["func_name", "docstring", "body"]  # body: the code without its docstring, split into words


@dataclass(frozen=True)
class FolderHit:
    order: int  # the folder's position in the list given: breaks score ties the same way each time
    folder: Folder
    hit: Hit


@dataclass
class Searcher:
    """Searches a fixed list of folders; keeps each folder's retrievers (encoders load once) while its live
    index stays the same."""

    client: Elasticsearch
    folders: list[Folder]
    paths: Paths
    _retrievers: dict[tuple[str, str, str], object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # one load per retriever, whichever thread asks

    def modes(self) -> tuple[list[str], bool]:
        """(the modes every folder supports, in the first folder's order; whether every folder is a codebase)."""
        per_folder = [index_modes(self.client, f.name, paths=self.paths) for f in self.folders]
        common = [mode for mode in per_folder[0][0] if all(mode in modes for modes, _ in per_folder)]
        return common, all(codebase for _, codebase in per_folder)

    def retriever(self, folder: Folder, mode: str):
        key = (folder.name, mode, aliased_index(self.client, folder.name) or folder.name)
        with self._lock:
            if key not in self._retrievers:
                self._retrievers[key] = make_retriever(
                    self.client, folder.name, mode, paths=self.paths, source=UNIT_FIELDS
                )
            return self._retrievers[key]

    def warm_up(self) -> None:
        """Load the default mode's models (the encoder: seconds of torch start-up) before the first query needs
        them, with one search."""
        self.search("warm up", k=1)

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str | None = None,
        path: str | None = None,
        snippet_lines: int = SNIPPET_LINES,
    ) -> SearchOut:
        started = time.perf_counter()
        query, k = visible_query(query, MAX_QUERY_CHARS), check_k(k)
        mode = self.check_mode(mode)
        scopes = scoped_to(self.folders, path) if path else {f.name: None for f in self.folders}
        found: list[FolderHit] = []
        for order, folder in enumerate(self.folders):
            if folder.name not in scopes:
                continue
            scope = scopes[folder.name]
            ranking = self.retriever(folder, mode).search(query, k=k, filters=[scope] if scope else None)
            found += [FolderHit(order, folder, hit) for hit in ranking.hits]
        results = [unit(fh, rank, snippet_lines) for rank, fh in enumerate(merged(found)[:k], start=1)]
        return SearchOut(
            query=query,
            mode=mode,
            k=k,
            folders=[FolderRef(name=f.name, root=str(f.root) if f.root else None) for f in self.folders],
            took_ms=round((time.perf_counter() - started) * 1000, 1),
            results=results,
        )

    def check_mode(self, mode: str | None) -> str:
        modes, codebase = self.modes()
        if mode is None:  # codebases have their own default (retrieval/modes.py)
            return default_mode(modes, codebase=codebase)
        if mode not in modes:
            where = ", ".join(describe(f) for f in self.folders)
            raise HybridError(f"mode '{mode}' is not available on {where}; available: {', '.join(modes)}")
        return mode

    def related(self, path: str, line: int, *, k: int = 10, snippet_lines: int = SNIPPET_LINES) -> RelatedOut:
        started = time.perf_counter()
        k = check_k(k)
        home, target = self.unit_at(path, line)
        parts = (target.func_name, target.source.get("docstring", ""), target.source.get("code", ""))
        like = "\n".join(part for part in parts if part)
        text_run: list[FolderHit] = []
        vector_run: list[FolderHit] = []
        vector, weights = self.stored_vector(home, target.doc_id)
        for order, folder in enumerate(self.folders):
            excluded = [target.doc_id] if folder is home else []
            text_run += [FolderHit(order, folder, h) for h in self.more_like(folder, like, k, excluded)]
            if vector is not None and vector_weights(self.client, folder) == weights:
                body = excluding(exact_vector_search(vector, role_weights={}, size=k, source=UNIT_FIELDS), excluded)
                hits = retrying_search(self.client, index=folder.name, **body)["hits"]["hits"]
                vector_run += [FolderHit(order, folder, hit_from_es(h)) for h in hits]
        ranked = fused(merged(text_run), merged(vector_run)) if vector_run else merged(text_run)
        return RelatedOut(
            target=unit(FolderHit(0, home, _rescored(target, 0.0)), 0, snippet_lines),
            method="text+vector" if vector_run else "text",
            took_ms=round((time.perf_counter() - started) * 1000, 1),
            results=[unit(fh, rank, snippet_lines) for rank, fh in enumerate(ranked[:k], start=1)],
        )

    def unit_at(self, path: str, line: int) -> tuple[Folder, Hit]:
        """(folder, unit) at `path`:`line`: the innermost unit whose lines hold it (a method, not its class)."""
        if line < 1:
            raise HybridError(f"line must be 1 or more, got {line}")
        for folder in self.folders:
            relative = folder.locate(path)
            if relative is None or relative == "." or (folder.root and (folder.root / relative).is_dir()):
                continue
            body = units_of_file(folder.doc_path(relative), source=UNIT_FIELDS)
            units = [hit_from_es(h) for h in retrying_search(self.client, index=folder.name, **body)["hits"]["hits"]]
            if not units:
                raise HybridError(f"{path} has no indexed units in {describe(folder)} (not Python, or not indexed)")
            holding = [u for u in units if u.source["start_line"] <= line <= u.source["end_line"]]
            if not holding:
                last = max(u.source["end_line"] for u in units)
                raise HybridError(f"no unit of {path} holds line {line} (its units end at line {last})")
            return folder, min(holding, key=lambda u: (u.source["end_line"] - u.source["start_line"], u.doc_id))
        raise HybridError(f"file not found in {', '.join(describe(f) for f in self.folders)}: {path}")

    def more_like(self, folder: Folder, like: str, k: int, excluded: list[str]) -> list[Hit]:
        body = more_like_search(
            plain_text(like), fields=RELATED_FIELDS, size=k, source=UNIT_FIELDS, excluded_ids=excluded
        )
        return [hit_from_es(h) for h in retrying_search(self.client, index=folder.name, **body)["hits"]["hits"]]

    def stored_vector(self, folder: Folder, doc_id: str) -> tuple[list[float] | None, str | None]:
        """The unit's vector as indexed (read by a script: the vector is left out of `_source`), and the weights
        that made it; (None, None) when the index has no vectors."""
        weights = vector_weights(self.client, folder)
        if weights is None:
            return None, None
        hits = retrying_search(self.client, index=folder.name, **stored_vector(doc_id))["hits"]["hits"]
        values = hits[0].get("fields", {}).get("vector") if hits else None
        if values and isinstance(values[0], list):  # a script field's value comes back wrapped in a list
            values = values[0]
        return ([float(x) for x in values], weights) if values else (None, None)


def vector_weights(client: Elasticsearch, folder: Folder) -> str | None:
    """The fingerprint of the weights that made the folder's vectors; None without vectors."""
    meta = index_meta(client, aliased_index(client, folder.name) or folder.name)
    if "encoder" not in meta:
        return None
    return meta.get("build", {}).get("encoder", {}).get("weights") or meta["encoder"]


def merged(found: Sequence[FolderHit]) -> list[FolderHit]:
    """Every folder's hits in one list by score; ties by folder order, then file and line."""
    return sorted(
        found,
        key=lambda fh: (-fh.hit.score, fh.order, fh.hit.source.get("path", ""), fh.hit.source.get("start_line", 0)),
    )


def fused(*runs: list[FolderHit]) -> list[FolderHit]:
    """Reciprocal rank fusion of ranked lists of folder hits (each in its given order), scored by the fused value."""

    def key(fh: FolderHit) -> str:
        return f"{fh.order}:{fh.hit.doc_id}"  # one id may be in two folders (two checkouts of one repository)

    by_key = {key(fh): fh for run in runs for fh in run}
    scores = rrf([{key(fh): -position for position, fh in enumerate(run)} for run in runs])
    return merged([FolderHit(fh.order, fh.folder, _rescored(fh.hit, scores[name])) for name, fh in by_key.items()])


def _rescored(hit: Hit, score: float) -> Hit:
    return Hit(hit.doc_id, hit.url, score, hit.source)


def unit(found: FolderHit, rank: int, snippet_lines: int) -> Unit:
    src, folder = found.hit.source, found.folder
    lines = (src.get("code") or "").splitlines()
    return Unit(
        rank=rank,
        folder=folder.name,
        path=folder.relative(src.get("path", "")),
        file=folder.file(src.get("path", "")),
        start_line=src.get("start_line") or 0,
        end_line=src.get("end_line") or 0,
        kind=src.get("kind") or "function",
        name=src.get("func_name", ""),
        score=round(found.hit.score, 4),
        snippet="\n".join(lines[:snippet_lines]),
        lines_omitted=max(len(lines) - snippet_lines, 0),
    )


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise HybridError(f"k must be between 1 and {MAX_K}, got {k}")
    return k
