"""The local node manager: idempotent `up`, status, and the official-build check."""

import os

import pytest

from hybrid_search import HybridError
from hybrid_search.es import local


def test_up_is_idempotent_and_status_reports_the_node(es_settings):
    if local.running_pid(local.paths()) is None and not os.environ.get("CI"):
        pytest.skip("tests run against an external cluster (HYBRID_ES_URL), not the local node")
    pid = local.running_pid(local.paths())
    url = local.up(echo=lambda *_: None)
    assert local.running_pid(local.paths()) == pid
    state = local.status()
    assert state["installed"] and state["pid"] == pid and state["url"] == url and state["version"] == local.ES_VERSION


def test_build_check_refuses_other_builds():
    local._check_build({"version": {"number": local.ES_VERSION, "build_hash": local.ES_BUILD_HASH}})
    with pytest.raises(HybridError, match="unexpected Elasticsearch build"):
        local._check_build({"version": {"number": "8.12.2", "build_hash": "deadbeef"}})
