"""Shared fixtures: a real Elasticsearch node (started once per session) and small generated data.

Tests talk to the real node. If HYBRID_ES_URL answers it is used; otherwise the local node is installed
(once, cached) and started with `hybrid es up`'s code. An absent ES is a failure, never a skip.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from helpers import delete_indices, synthetic_pairs, write_tiny_data

from hybrid_search import HybridError
from hybrid_search.config import EsSettings, Paths, es_heap_override, home_dir
from hybrid_search.es.client import connect
from hybrid_search.es.node import NodePaths, up


@pytest.fixture(scope="session")
def es_settings() -> EsSettings:
    settings = EsSettings.from_env()
    try:
        connect(settings, request_timeout=5)
    except HybridError:
        # 512 MB, not the corpus-sized heap: tests index tiny corpora and share the machine.
        url = up(NodePaths(home_dir()), heap=es_heap_override() or "512m", echo=lambda *_: None)
        settings = EsSettings.from_env(url)
    return settings


@pytest.fixture(autouse=True)
def no_default_real_queries(monkeypatch):
    """Real queries only where a test passes --real-queries: the shared folder beside the checkout would
    otherwise join every tune, eval and train run (set but empty: none, see config.default_real_queries_dir)."""
    monkeypatch.setenv("HYBRID_REAL_QUERIES", "")


@pytest.fixture
def paths(tmp_path) -> Paths:
    """The tool's folders for one test, all under its tmp_path (models, caches, tuned choices, runs)."""
    home = tmp_path / "home"
    return Paths(home=home, models=home / "models", cache=home / "cache", tuned=home / "tuned", runs=tmp_path / "runs")


@pytest.fixture(scope="session")
def es(es_settings):
    return connect(es_settings)


@pytest.fixture
def index_name(es):
    """A unique alias name for one test; every index it names is deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    delete_indices(es, name)


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    return write_tiny_data(tmp_path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny attention-pooled encoder trained on `synthetic_pairs` (seconds): pairs, encoder, metadata, folder."""
    from hybrid_search.encoder.models import EncoderConfig
    from hybrid_search.encoder.train import TrainConfig, train_encoder
    from hybrid_search.evaluation.dense import csn_mrr

    pairs = synthetic_pairs()
    out = tmp_path_factory.mktemp("model") / "tiny"
    config = TrainConfig(
        encoder=EncoderConfig(kind="attn", dim=32, dropout=0.0), epochs=15, batch_size=16, lr=1e-2, min_count=1
    )
    encoder, metadata = train_encoder(
        pairs, pairs[:32], config, out, score_epoch=csn_mrr, progress=False, echo=lambda *_: None
    )
    return pairs, encoder, metadata, out


@pytest.fixture(scope="session")
def tiny_vector_index(es, tmp_path_factory, trained):
    """(alias, data folder) of the tiny data indexed with the tiny encoder's vectors, so that dense and hybrid
    run on it; built once for the tests that only read it."""
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.pipeline.build import build_index

    data = write_tiny_data(tmp_path_factory.mktemp("tiny-data"))
    alias = f"test-{uuid.uuid4().hex[:10]}"
    build_index(es, data, alias, progress=False, encoder=Encoder.load(trained[3]))
    yield alias, data
    delete_indices(es, alias)


@pytest.fixture(scope="session")
def second_node():
    """A throw-away node of our own (tests/es_node.py), for tests that stop, kill or restart one."""
    from es_node import ThrowawayNode

    node = ThrowawayNode()
    try:
        node.up()
        yield node
    finally:
        node.remove()


# Fixtures that reach a node, train or load a model: a test that uses none of them (directly or through
# other fixtures) is pure, and `pytest -m pure` runs those alone in seconds.
IMPURE_FIXTURES = {"es_settings", "trained", "second_node", "https_es", "reranker"}
IMPURE_MODULES = {
    "test_cluster",
    "test_faults",
    "test_local_es",
    "test_web_browser",
    "test_bench",
    "test_rerank",
    "test_cross",
    "test_encoder",
}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if not IMPURE_FIXTURES & set(item.fixturenames) and module not in IMPURE_MODULES:
            item.add_marker(pytest.mark.pure)
