"""Concurrent builds and prunes of one alias, against the real node: races are run as two real processes, or
by making the ES calls of two builds in the order that loses.

Covers: two builds finishing together (alias on one version only), two starting in the same second, a prune
while a build runs (never touches it), a version deleted mid-build (never auto-created again), and --rebuild
building a new version from the current mappings.
"""

from __future__ import annotations

import time

from helpers import corpus_actions, make_function, write_jsonl_gz
from test_faults import assert_exactly, one_error_line, run_cli, start_cli, wait_until_indexing

from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.es import indexing
from hybrid_search.es.bulk import bulk_load
from hybrid_search.es.mappings import index_body
from hybrid_search.pipeline.build import build_index, source_fingerprint


def aliased(es, alias: str) -> list[str]:
    """Every index the alias points to (a correct build leaves exactly one)."""
    return sorted(es.indices.get_alias(name=alias))


def slow_corpus(folder, n: int = 3000):
    """`n` small functions: with 25-document bulks a build lasts long enough for another process to act."""
    records = [make_function(i, f"job_{i}.run", f"Run job number {i}.", f"x = {i}\nreturn x") for i in range(n)]
    write_jsonl_gz(folder / "corpus" / "a.jsonl.gz", records)
    return folder


# ---------------------------------------------------------------- two builds finishing together


def test_two_builds_swapping_from_the_same_stale_read_leave_the_alias_on_one_version(es, tiny_data, index_name):
    """Both builds read the alias (v0) before either swaps: the second swap's stale `remove v0` must not
    leave the alias on both new versions (every result would come back twice)."""
    v0 = build_index(es, tiny_data, index_name, progress=False).index
    build = source_fingerprint(tiny_data, None)
    a, b = (indexing.create_version(es, index_name, build) for _ in range(2))
    seen_by_a, seen_by_b = indexing.aliased_index(es, index_name), indexing.aliased_index(es, index_name)
    assert indexing.move_alias(es, index_name, a, seen_by_a) == v0
    assert indexing.move_alias(es, index_name, b, seen_by_b) == a  # swapped against what was really live
    assert aliased(es, index_name) == [b]


def test_two_first_builds_swapping_together_leave_the_alias_on_one_version(es, tiny_data, index_name):
    build = source_fingerprint(tiny_data, None)
    a, b = (indexing.create_version(es, index_name, build) for _ in range(2))
    assert indexing.move_alias(es, index_name, a, None) is None
    indexing.move_alias(es, index_name, b, None)  # also saw no alias: a's add raced in meanwhile
    assert aliased(es, index_name) == [b]


def test_a_version_name_taken_between_check_and_create_gets_the_next_name(es, tiny_data, index_name):
    """Another build created this second's name (and the next ones) first: no resource_already_exists."""
    now = time.time()
    taken = {f"{index_name}-v{time.strftime('%Y%m%d%H%M%S', time.gmtime(now + s))}" for s in range(3)}
    for name in taken:
        es.indices.create(index=name)
    name = indexing.create_version(es, index_name, source_fingerprint(tiny_data, None))
    assert name not in taken and indexing.versions(es, index_name)[-1] == name


def test_two_concurrent_rebuild_processes_both_succeed_and_the_alias_is_on_one(es, es_settings, tiny_data, index_name):
    first = run_cli(es_settings.url, index_name, "index", "--data", str(tiny_data), "--no-progress", cwd=tiny_data)
    assert first.returncode == 0, first.stderr
    args = ("index", "--data", str(tiny_data), "--rebuild", "--no-progress")
    builds = [start_cli(es_settings.url, index_name, *args, cwd=tiny_data) for _ in range(2)]
    for build in builds:
        _, stderr = build.communicate(timeout=300)
        assert build.returncode == 0 and "Traceback" not in stderr, stderr
    assert len(aliased(es, index_name)) == 1
    assert len(indexing.versions(es, index_name)) == 3
    assert_exactly(es, index_name, 6)


# ---------------------------------------------------------------- prune while a build runs


def test_prune_during_a_build_keeps_the_version_being_built(es, es_settings, index_name, tmp_path):
    data = slow_corpus(tmp_path / "data")
    args = ("index", "--data", str(data), "--bulk-size", "25", "--no-progress")
    build = start_cli(es_settings.url, index_name, *args, cwd=tmp_path)
    wait_until_indexing(es, index_name, build, at_least=200)
    building = indexing.versions(es, index_name)[-1]
    pruned = run_cli(es_settings.url, index_name, "indices", "prune", "--yes", cwd=tmp_path, timeout=60)
    assert pruned.returncode == 0, pruned.stderr
    assert f"kept {building}: being built" in pruned.stdout and "deleted" not in pruned.stdout
    _, stderr = build.communicate(timeout=300)
    assert build.returncode == 0, stderr
    assert aliased(es, index_name) == [building]
    assert_exactly(es, index_name, 3000)


def test_a_version_deleted_mid_build_is_never_auto_created(es, es_settings, index_name, tmp_path):
    """Deleted by hand (or by an older prune): the next bulk must not re-create it with dynamic mappings."""
    data = slow_corpus(tmp_path / "data")
    args = ("index", "--data", str(data), "--bulk-size", "25", "--no-progress")
    build = start_cli(es_settings.url, index_name, *args, cwd=tmp_path)
    wait_until_indexing(es, index_name, build, at_least=200)
    building = indexing.versions(es, index_name)[-1]
    es.indices.delete(index=building)
    _, stderr = build.communicate(timeout=300)
    assert build.returncode == 1
    assert f"{building} was deleted while it was being built" in one_error_line(stderr)
    assert not es.indices.exists(index=building) and not es.indices.exists_alias(name=index_name)


def test_prune_deletes_a_crashed_build_and_old_versions(es, es_settings, tiny_data, index_name):
    """A build whose process is gone holds no lease: prune removes it along with the old complete version."""
    old = build_index(es, tiny_data, index_name, progress=False).index
    live = build_index(es, tiny_data, index_name, progress=False, rebuild=True).index
    crashed = indexing.create_version(es, index_name, {"source": "elsewhere"})
    meta = indexing.index_meta(es, crashed)
    dead = {"host": meta["lease"]["host"], "pid": 2**22 + 1, "renewed": time.time()}  # above Linux's pid_max
    es.indices.put_mapping(index=crashed, meta={**meta, "lease": dead})
    pruned = run_cli(es_settings.url, index_name, "indices", "prune", "--yes", cwd=tiny_data, timeout=60)
    assert pruned.returncode == 0, pruned.stderr
    assert f"deleted {old}" in pruned.stdout and f"deleted {crashed}" in pruned.stdout
    assert indexing.versions(es, index_name) == [live]


# ---------------------------------------------------------------- --rebuild and the build fingerprint


def test_rebuild_builds_a_new_version_however_many_exist(es, tiny_data, index_name):
    built = [build_index(es, tiny_data, index_name, progress=False, rebuild=True).index for _ in range(3)]
    assert len(set(built)) == 3 and indexing.versions(es, index_name) == built
    assert aliased(es, index_name) == [built[-1]]


def test_a_crashed_build_with_other_mappings_is_not_resumed(es, tiny_data, index_name):
    """Mappings and settings are part of the build fingerprint: a build left by an older es_mappings (or an
    older tool that did not record them) is not resumed into; a new version gets the current mappings."""
    other = index_body()
    other["mappings"]["properties"]["func_name"] = {"type": "keyword"}
    current = source_fingerprint(tiny_data, None)
    unrecorded = {key: value for key, value in current.items() if key != "index"}
    for stale in (unrecorded, {**current, "index": "0" * 12}):
        old = indexing.create_version(es, index_name, stale, index_body() if stale is unrecorded else other)
        bulk_load(es, corpus_actions(read_corpus(tiny_data, ReadReport()), old))
        report = build_index(es, tiny_data, index_name, progress=False)
        assert not report.resumed and report.index != old
    live = indexing.aliased_index(es, index_name)
    assert es.indices.get_mapping(index=live)[live]["mappings"]["properties"]["func_name"]["type"] == "text"


def test_the_local_node_refuses_to_auto_create_indices(second_node):
    client = second_node.client()
    response = client.options(ignore_status=404).index(index="not-created-by-a-write", document={"a": 1})
    assert response.meta.status == 404 and not client.indices.exists(index="not-created-by-a-write")


def test_a_reverted_change_makes_the_older_complete_version_live_without_resending(es, tiny_data, index_name):
    """Shards, like mappings, are part of the build fingerprint: built with one, then two, then one again (a
    change reverted), the first version, complete from this very build, is made live as it is."""
    from hybrid_search.es.layout import IndexLayout

    def versions_of_documents(index: str) -> dict[str, int]:
        hits = es.search(index=index, size=100, version=True)["hits"]["hits"]
        return {hit["_id"]: hit["_version"] for hit in hits}

    first = build_index(es, tiny_data, index_name, progress=False, layout=IndexLayout(shards=1))
    written = versions_of_documents(first.index)
    second = build_index(es, tiny_data, index_name, progress=False, layout=IndexLayout(shards=2))
    assert second.index != first.index and aliased(es, index_name) == [second.index]
    again = build_index(es, tiny_data, index_name, progress=False, layout=IndexLayout(shards=1))
    assert aliased(es, index_name) == [first.index]
    assert versions_of_documents(first.index) == written  # nothing re-sent: every document at its first version
    assert again.reused and again.previous == second.index and again.indexed == len(written) == 6
