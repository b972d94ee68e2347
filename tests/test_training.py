"""`hybrid train`'s pipeline on tiny corpora: a finished training is not redone, an interrupted one resumes,
`retrain` starts over (to the same weights), and the encoding speeds time only the functions."""

import hashlib
import json
import time

import numpy as np
import pytest
from helpers import pair_records, synthetic_pairs, write_jsonl_gz

from hybrid_search.data.pairs import Pair
from hybrid_search.encoder import TextEncoder
from hybrid_search.encoder.models import EncoderConfig
from hybrid_search.encoder.train import TrainConfig
from hybrid_search.pipeline.training import (
    TrainingData,
    csn_scores,
    evaluate_on_valid_pool,
    run_minilm,
    run_training,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A data folder: the synthetic pairs' functions in train (urls made distinct) and the first 24 in valid."""
    folder = tmp_path_factory.mktemp("data")
    pairs = synthetic_pairs()
    train = pair_records(pairs, partition="train")
    for record in train:
        record["url"] += "-train"
    write_jsonl_gz(folder / "corpus" / "train.jsonl.gz", train)
    write_jsonl_gz(folder / "corpus" / "valid.jsonl.gz", pair_records(pairs[:24], partition="valid"))
    return folder


def tiny_config(epochs: int = 2) -> TrainConfig:
    return TrainConfig(encoder=EncoderConfig(kind="nbow", dim=16), epochs=epochs, batch_size=16, min_count=1)


def sha1(path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def test_a_finished_training_is_not_redone_an_interrupted_one_resumes(data, tmp_path):
    out, messages = tmp_path / "nbow", []
    first = run_training(data, tiny_config(), out, progress=False, echo=messages.append)
    saved = json.loads((out / "training.json").read_text())
    assert saved["complete"] is True and "valid" in saved and saved == first
    weights = sha1(out / "model.pt")

    messages.clear()
    again = run_training(data, tiny_config(), out, progress=False, echo=messages.append)
    assert messages == [
        f"{out} is already trained (nbow, valid CSN MRR {first['valid_mrr_csn']:.4f}); --retrain to train again"
    ]
    assert again == first and sha1(out / "model.pt") == weights

    # Interrupted after training, before the valid evaluation finished: the training is completed.
    (out / "training.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "complete"}))
    messages.clear()
    resumed = run_training(data, tiny_config(), out, progress=False, echo=messages.append)
    assert "resuming from epoch 2" in "\n".join(messages) and resumed["complete"] is True
    assert sha1(out / "model.pt") == weights

    # Other settings are trained (here: two more epochs continue the run), not skipped.
    messages.clear()
    longer = run_training(data, tiny_config(epochs=4), out, progress=False, echo=messages.append)
    assert [h["epoch"] for h in longer["history"]] == [1, 2, 3, 4]


def test_retrain_starts_over_and_gives_the_same_weights(data, tmp_path):
    out, messages = tmp_path / "nbow", []
    run_training(data, tiny_config(), out, progress=False, echo=messages.append)
    weights = sha1(out / "model.pt")
    messages.clear()
    again = run_training(data, tiny_config(), out, retrain=True, progress=False, echo=messages.append)
    assert not any("resuming" in m or "already trained" in m for m in messages)
    assert [h["epoch"] for h in again["history"]] == [1, 2] and again["complete"] is True
    assert sha1(out / "model.pt") == weights  # training is deterministic


def test_minilm_fine_tune_follows_the_same_completion_rule(data, tmp_path):
    out, messages = tmp_path / "minilm-ft", []
    settings = {"max_pairs": 8, "epochs": 1, "batch_size": 8, "lr": 2e-5, "seed": 13, "progress": False}
    first = run_minilm(data, out, echo=messages.append, **settings)
    assert json.loads((out / "training.json").read_text())["complete"] is True
    assert first["encode_functions_per_s"] > 0
    messages.clear()
    assert run_minilm(data, out, echo=messages.append, **settings) == first
    assert len(messages) == 1 and messages[0].startswith(f"{out} is already trained (minilm, valid CSN MRR")


class SlowQueries:
    """A perfect encoder (pair i -> the i-th unit vector) that takes `delay` seconds to encode queries."""

    name, path, dims = "slow-queries", None, 8

    def __init__(self, pairs: list[Pair], delay: float):
        self.rows = {p.query: i for i, p in enumerate(pairs)} | {p.function.url: i for i, p in enumerate(pairs)}
        self.delay = delay

    def encode_queries(self, texts):
        time.sleep(self.delay)
        return np.eye(self.dims, dtype=np.float32)[[self.rows[t] for t in texts]]

    def encode_functions(self, functions):
        return np.eye(self.dims, dtype=np.float32)[[self.rows[f.url] for f in functions]]

    def fingerprint(self) -> str:
        return ""


def test_encoding_speeds_time_the_functions_alone():
    pairs = synthetic_pairs()[:8]
    encoder = SlowQueries(pairs, delay=0.5)
    assert isinstance(encoder, TextEncoder)
    mrr, functions_per_s = csn_scores(encoder, pairs)
    assert mrr == 1.0 and functions_per_s > 8 / 0.5 * 10  # the queries' 0.5 s is not in the timing
    pool = TrainingData(pairs, None, len(pairs), [p.function for p in pairs], pairs)
    valid = evaluate_on_valid_pool(encoder, pool)
    assert valid["mrr_pool"] == 1.0 and valid["encode_functions_per_s"] > 8 / 0.5 * 10
