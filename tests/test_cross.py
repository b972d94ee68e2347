"""The cross-encoder re-ranker (`hybrid train --encoder cross`) on the real all-MiniLM-L6-v2 weights, cut to one
layer so that it trains in seconds: it learns, it saves and loads, the re-ranking path uses it, and the
negatives mined for it leave out the target and its near duplicates."""

import json
from dataclasses import replace

import numpy as np
import pytest
from helpers import pair_records, synthetic_pairs, write_jsonl_gz

from hybrid_search.config import Paths
from hybrid_search.encoder.cross import CrossEncoder, Group, function_text
from hybrid_search.encoder.resolve import load_reranker
from hybrid_search.pipeline.cross import is_near_duplicate, mine_negatives, run_cross, training_groups
from hybrid_search.retrieval.base import Hit
from hybrid_search.retrieval.rerank import CrossReranker, rerank, reranker_for


@pytest.fixture(scope="module")
def pairs():
    return synthetic_pairs()


@pytest.fixture(scope="module")
def cross_folder(pairs, tmp_path_factory):
    """A one-layer cross-encoder trained on the synthetic pairs, each against three other pairs' code."""
    model = CrossEncoder.fresh(layers=1, max_length=64)
    groups = [
        Group(
            p.query,
            function_text(p.function),
            tuple(function_text(pairs[(i + s) % len(pairs)].function) for s in (1, 9, 17)),
        )
        for i, p in enumerate(pairs)
    ]
    metadata = model.fit(groups, epochs=3, batch_size=8, lr=1e-4, progress=False)
    folder = tmp_path_factory.mktemp("models") / "cross"
    model.save(folder, {"layers": 1})
    return folder, metadata


def test_the_cross_encoder_learns_to_put_each_target_first(pairs, cross_folder):
    folder, metadata = cross_folder
    assert metadata["last_loss"] < metadata["first_loss"]
    model = CrossEncoder.load(folder)
    firsts = [
        int(np.argmax(model.score(p.query, [p.function] + [q.function for q in pairs[i + 1 : i + 4]])))
        for i, p in enumerate(pairs[:40])
    ]
    assert firsts.count(0) >= 36


def test_a_saved_cross_encoder_loads_with_the_same_scores_and_as_int8(pairs, cross_folder):
    folder, _ = cross_folder
    functions = [p.function for p in pairs[:8]]
    first, again = CrossEncoder.load(folder), CrossEncoder.load(folder)
    assert np.allclose(first.score(pairs[0].query, functions), again.score(pairs[0].query, functions), atol=1e-5)
    int8 = load_reranker(folder, models=folder.parent, int8=True)
    assert (
        isinstance(int8, CrossEncoder) and int8.int8 and json.loads((folder / "cross.json").read_text())["layers"] == 1
    )
    full, quantised = first.score(pairs[0].query, functions), int8.score(pairs[0].query, functions)
    assert not np.allclose(full, quantised, atol=1e-6) and np.argmax(full) == np.argmax(quantised) == 0
    # A docstring query longer than the whole budget is cut too, instead of failing the batch.
    assert first.score("parse " * 200, functions).shape == (8,)


def test_rerank_mode_scores_pairs_with_the_cross_encoder_and_fetches_missing_code(pairs, cross_folder, tmp_path):
    folder, _ = cross_folder
    paths = Paths(home=tmp_path, models=folder.parent, cache=tmp_path, tuned=tmp_path, runs=tmp_path)
    reranker = reranker_for("cross", paths=paths, int8=False)
    assert isinstance(reranker, CrossReranker) and reranker.reproducible() is reranker
    functions = {f"d{i}": p.function for i, p in enumerate(pairs[:5])}
    hits = [Hit(d, f.url, 5.0 - i, {"func_name": f.func_name}) for i, (d, f) in enumerate(functions.items())]
    fetched = []

    def fetch(ids):
        fetched.extend(ids)
        return {d: {"func_name": functions[d].func_name, "code": functions[d].code} for d in ids}

    query = pairs[3].query
    similarity = reranker.similarities(query, hits, fetch=fetch)
    assert fetched == list(functions) and min(similarity.values()) == 0.0 and max(similarity.values()) == 1.0
    ranked = rerank([(h.doc_id, h.score) for h in hits], similarity, candidates=5, weight=0.0)
    assert ranked[0][0] == "d3"


def test_mined_negatives_leave_out_the_target_and_its_near_duplicates(pairs, trained):
    _, encoder, _, _ = trained
    copy = replace(pairs[0], function=replace(pairs[0].function, url="https://fork/x.py#L1-L4"))  # a fork's copy
    pool = [*pairs, copy]
    mined = mine_negatives(encoder, pairs[:10], pool, depth=len(pool), progress=False)
    for query, negatives in zip(pairs[:10], mined):  # deep enough to hold every function that may be one
        expected = {p.function.url for p in pool if p.function.url != query.function.url}
        expected -= {p.function.url for p in pool if is_near_duplicate(query, p)}
        assert {n.function.url for n in negatives} == expected and len(negatives) == len(expected)
        scores = encoder.encode_functions([n.function for n in negatives]) @ encoder.encode_queries([query.query])[0]
        assert np.all(np.diff(scores) <= 1e-6)  # best first
    assert copy.function.url not in {n.function.url for n in mined[0]}
    assert is_near_duplicate(pairs[0], copy) and not is_near_duplicate(pairs[0], pairs[9])
    groups = training_groups(pairs[:10], mined, negatives=3, seed=1)
    assert len(groups) == 10 and all(len(g.negatives) == 3 and g.positive not in g.negatives for g in groups)
    assert groups == training_groups(pairs[:10], mined, negatives=3, seed=1)  # seeded


def test_run_cross_trains_checks_and_is_not_redone(pairs, trained, tmp_path):
    data = tmp_path / "data"
    train = pair_records(pairs, partition="train")
    for record in train:
        record["url"] += "-train"
    write_jsonl_gz(data / "corpus" / "train.jsonl.gz", train)
    write_jsonl_gz(data / "corpus" / "valid.jsonl.gz", pair_records(pairs, partition="valid"))
    settings = {"max_pairs": 32, "negatives": 3, "layers": 1, "max_length": 64, "epochs": 1, "batch_size": 8}
    settings |= {"lr": 1e-4, "seed": 13}
    out, messages = tmp_path / "cross", []
    first = run_cross(data, out, trained[1], progress=False, echo=messages.append, **settings)
    assert first["complete"] is True and first["groups"] == 32
    check = first["valid_mined"]
    assert (
        check["queries"] == 64
        and 0 < check["mrr_cross_untrained"] <= 1
        and 0 < check["mrr_cross"] <= 1
        and 0 < check["mrr_first_stage"] <= 1
    )
    assert isinstance(load_reranker(out, models=tmp_path), CrossEncoder)
    messages.clear()
    assert run_cross(data, out, trained[1], progress=False, echo=messages.append, **settings) == first
    assert messages == [f"{out} is already trained (cross); --retrain to train again"]
