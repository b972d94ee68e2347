"""Concurrent builds and prunes of one alias, against the real node: races are run as two real processes, or
by making the ES calls of two builds in the order that loses.

Covers: two builds finishing together (alias on one version only) and two starting in the same second.
"""

from __future__ import annotations

import time

from test_faults import assert_exactly, run_cli, start_cli

from hybrid_search.es import indexing
from hybrid_search.pipeline.build import build_index, source_fingerprint


def aliased(es, alias: str) -> list[str]:
    """Every index the alias points to (a correct build leaves exactly one)."""
    return sorted(es.indices.get_alias(name=alias))


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
    assert_exactly(es, index_name, 6)
