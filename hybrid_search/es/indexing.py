"""Versioned indices behind an alias (documents: es/documents.py; bulk loading: es/bulk.py).

A build writes into `<alias>-v<timestamp>` with refresh disabled, checks the document count, then moves
the alias in one atomic `_aliases` call: users keep searching the old version until the new one is whole.
An interrupted build is resumed: its index is found by the `_meta.build` fingerprint of the data source,
and since document ids derive from urls, re-sending documents overwrites instead of duplicating.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterable

from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from hybrid_search import HybridError
from hybrid_search.es import lease
from hybrid_search.es.bulk import bulk_load
from hybrid_search.es.mappings import index_body

_VALID_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,200}")


def validate_name(name: str) -> str:
    """Index and alias names: lower-case letters, digits, `-` and `_` only (no wildcards, no system indices)."""
    if not _VALID_NAME.fullmatch(name):  # fullmatch: `$` would let a trailing newline through
        raise HybridError(f"invalid index name {name!r}: use lower-case letters, digits, '-' and '_'")
    return name


def load_alias(index: str) -> str:
    """The alias bulk writes go through while `index` is built (`bulk_load` requires an alias).

    Writing to a concrete name lets ES auto-create it, with dynamic mappings, once it was deleted mid-build;
    with `require_alias` a deleted index fails each write instead (404), on any cluster whatever its
    `action.auto_create_index`.
    """
    return f"{index}-load"


# ---------------------------------------------------------------- versions and alias


def versions(client: Elasticsearch, alias: str) -> list[str]:
    """All versioned indices of `alias`, oldest first."""
    pattern = re.compile(rf"^{re.escape(alias)}-v\d{{14}}$")
    names = client.indices.get(index=f"{alias}-v*", expand_wildcards="open", ignore_unavailable=True)
    return sorted(name for name in names if pattern.match(name))


def aliased_index(client: Elasticsearch, alias: str) -> str | None:
    try:
        return next(iter(client.indices.get_alias(name=alias)), None)
    except NotFoundError:
        return None


def refuse_concrete_index(client: Elasticsearch, alias: str) -> None:
    """Raise HybridError when `alias` names an index rather than an alias or nothing: the alias could never
    be pointed at a new version, so refuse before any work (a whole build, then an orphan version)."""
    if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
        raise HybridError(
            f"'{alias}' is an index, not an alias: builds go into versions behind an alias of that name; "
            "choose another name with --index"
        )


def old_versions(client: Elasticsearch, alias: str) -> tuple[list[str], list[str]]:
    """(deletable, kept): every version of `alias` but the live one, less those another process is building."""
    live = aliased_index(client, alias)
    old = [name for name in versions(client, alias) if name != live]
    kept = [name for name in old if lease.held_elsewhere(index_meta(client, name))]
    return [name for name in old if name not in kept], kept


def describe_versions(client: Elasticsearch, alias: str) -> list[str]:
    """One line per version: live marker, name, document count, build status."""
    live = aliased_index(client, alias)
    lines = []
    for name in versions(client, alias):
        meta = index_meta(client, name)
        status = lease.describe(meta) if lease.held_elsewhere(meta) else meta.get("status", "?")
        count = client.count(index=name)["count"]
        lines.append(f"{'*' if name == live else ' '} {name}  {count:>9,} docs  {_shape(client, name, meta)}  {status}")
    return lines


def _shape(client: Elasticsearch, index: str, meta: dict) -> str:
    """Shards and replicas as the index has them now, and the search type its `_meta.layout` names."""
    settings = next(iter(client.indices.get_settings(index=index).values()))["settings"]["index"]
    search_type = (meta.get("layout") or {}).get("search_type", "query_then_fetch")
    return f"{settings['number_of_shards']} shards, {settings['number_of_replicas']} replicas, {search_type}"


def index_meta(client: Elasticsearch, index: str) -> dict:
    """The `_meta` of an index's mapping (build fingerprint and status)."""
    mapping = client.indices.get_mapping(index=index)
    return next(iter(mapping.values()))["mappings"].get("_meta", {})


def resumable_index(client: Elasticsearch, alias: str, build: dict, building_only: bool = False) -> str | None:
    """The newest version built from the same source that the alias does not point to and no other live
    process is building, if any.

    Usually a crashed build ("building"); also one that crashed after its count check but before the alias
    moved ("complete"), unless `building_only` (--rebuild: a complete version was served, or could have been,
    and is not new). Either way, re-sending every document into it is idempotent.
    """
    statuses = ("building",) if building_only else ("building", "complete")
    current = aliased_index(client, alias)
    for name in reversed(versions(client, alias)):
        if name == current:
            continue
        meta = index_meta(client, name)
        if meta.get("status") in statuses and meta.get("build") == build and not lease.held_elsewhere(meta):
            return name
    return None


def create_version(client: Elasticsearch, alias: str, build: dict, body: dict | None = None) -> str:
    """Create `<alias>-v<timestamp>` from es_mappings, with refresh off for the load, its load alias and this
    process's lease (es/lease.py).

    No exists-then-create: another build may take the name in between. A name taken is the next second's.
    """
    body = copy.deepcopy(body) if body else index_body()  # the caller's body is left as it was
    body["settings"]["refresh_interval"] = "-1"
    meta = {**body["mappings"].get("_meta", {}), "status": "building", "build": build, "lease": lease.new_lease()}
    body["mappings"]["_meta"] = meta
    stamp = time.time()
    for _ in range(600):
        name = f"{alias}-v{time.strftime('%Y%m%d%H%M%S', time.gmtime(stamp))}"
        try:
            client.indices.create(
                index=name, settings=body["settings"], mappings=body["mappings"], aliases={load_alias(name): {}}
            )
            return name
        except BadRequestError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
            stamp += 1
    raise HybridError(f"no free version name for {alias} in the next 10 minutes of timestamps")


def set_layout(client: Elasticsearch, index: str, layout) -> None:
    """Give `index` the replicas and search type of `layout` (`es.layout.IndexLayout`): both change on a live
    index; its shard count cannot, and is part of the build's fingerprint instead."""
    current = client.indices.get_settings(index=index, name="index.number_of_replicas")
    if int(next(iter(current.values()))["settings"]["index"]["number_of_replicas"]) != layout.replicas:
        client.indices.put_settings(index=index, settings={"index": {"number_of_replicas": layout.replicas}})
    meta = index_meta(client, index)
    if meta.get("layout") != layout.to_dict():
        client.indices.put_mapping(index=index, meta={**meta, "layout": layout.to_dict()})


def merge_segments(client: Elasticsearch, index: str, timeout_s: float = 3600) -> float:
    """Force-merge a finished load into one segment; returns the seconds it took.

    kNN then walks one HNSW graph instead of one per segment, and the merge drops the copy of each
    document's original source (vectors included) that ES keeps while indexing (`_recovery_source`).
    Measured on the full corpus: index 2.2 GB -> 752 MB, ES kNN time p50 12 -> 2 ms at the same
    num_candidates (docs/benchmarks.md).
    """
    started = time.monotonic()
    client.indices.refresh(index=index)
    client.options(request_timeout=timeout_s).indices.forcemerge(index=index, max_num_segments=1)
    return time.monotonic() - started


def current_build(client: Elasticsearch, name: str) -> dict | None:
    """The `_meta.build` of a completely loaded index `name` (see `load_fresh`); None when absent or unfinished."""
    if not client.indices.exists(index=name):
        return None
    meta = index_meta(client, name)
    return meta.get("build") if meta.get("status") == "complete" else None


def load_fresh(
    client: Elasticsearch,
    name: str,
    actions: Iterable[dict],
    *,
    build: dict,
    body: dict | None = None,
    what: str = "",
    on_done: Callable[[int], None] = lambda n: None,
) -> None:
    """(Re)create the unversioned index `name` (an evaluation index, not behind an alias), load `actions`
    (targeting `load_alias(name)`), and mark it complete with `build` in its `_meta`, so that
    `current_build` finds it next time.

    Documents ES refuses make one HybridError line: an evaluation over a partial index would mislead.
    """
    validate_name(name)
    if client.indices.exists(index=name):
        client.indices.delete(index=name)
    body = copy.deepcopy(body) if body else index_body()  # the caller's body is left as it was
    body["settings"]["refresh_interval"] = "-1"
    body["mappings"]["_meta"] = {**body["mappings"].get("_meta", {}), "status": "building", "build": build}
    load = load_alias(name)  # `actions` target it (see `documents.index_actions`)
    client.indices.create(index=name, settings=body["settings"], mappings=body["mappings"], aliases={load: {}})
    result = bulk_load(client, actions, on_done=on_done)
    if result.failed:
        first = result.failed[0]
        raise HybridError(
            f"{len(result.failed):,} documents were refused while building {what or 'the index'} {name} "
            f"(first: {first.doc_id}, {first.status} {first.reason}); re-run to retry"
        )
    client.indices.put_settings(index=name, settings={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=name)
    client.indices.put_mapping(index=name, meta={**index_meta(client, name), "status": "complete"})
    client.indices.delete_alias(index=name, name=load)


def finish_version(
    client: Elasticsearch, index: str, alias: str, expected: int, notes: dict | None = None
) -> str | None:
    """Restore refresh, check the count, mark complete and point the alias at `index`. Returns the old index.

    `notes`: facts about the build kept in the index's `_meta` (documents ES refused, bad records skipped).
    """
    client.indices.put_settings(index=index, settings={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=index)
    count = client.count(index=index)["count"]
    if count != expected:
        raise HybridError(
            f"index {index} holds {count:,} documents, expected {expected:,}: alias {alias} left unchanged"
        )
    meta = {k: v for k, v in index_meta(client, index).items() if k != "lease"}
    client.indices.put_mapping(index=index, meta={**meta, **(notes or {}), "status": "complete", "count": count})
    old = aliased_index(client, alias)
    if client.indices.exists(index=alias) and old is None:
        raise HybridError(f"{alias} is a concrete index, not an alias: rename or delete it before building")
    old = move_alias(client, alias, index, old)
    return old if old != index else None


def move_alias(client: Elasticsearch, alias: str, index: str, seen: str | None, attempts: int = 5) -> str | None:
    """Point `alias` at `index` alone, as a compare-and-swap on `seen`, the version the caller found live.

    ES accepts a plain `remove` of an alias that is no longer there: two builds that both saw v0 would leave
    the alias on both new versions. `must_exist` makes the stale swap fail; it is retried against the version
    now live (the last build to finish wins). With none seen, the alias is taken off every other version of
    `alias` in the same atomic call. The load alias goes too: nothing writes into a finished version.
    Returns the version the alias left.
    """
    for _ in range(attempts):
        if seen and seen != index:
            remove = {"remove": {"index": seen, "alias": alias, "must_exist": True}}
        else:
            remove = {"remove": {"index": f"{alias}-v*", "alias": alias}}
        actions = [
            remove,
            {"add": {"index": index, "alias": alias}},
            {"remove": {"index": index, "alias": load_alias(index)}},
        ]
        try:
            client.indices.update_aliases(actions=actions)
            return seen
        except NotFoundError:
            if not client.indices.exists(index=index):
                raise HybridError(f"{index} was deleted before alias {alias} could point to it") from None
            seen = aliased_index(client, alias)  # another build moved it since: swap against that one
    raise HybridError(f"alias {alias} kept moving while {index} was being made live; re-run the command")
