"""`hybrid train` and `hybrid data pairs`: read the corpus once, build pairs, train, score on valid.

Here the encoder meets the evaluation: training picks its best epoch by CodeSearchNet's MRR. A model folder's
training is finalised (`encoder/trained.py`) only after the valid evaluations, so an interrupted run is
resumed, and a finished one with the same settings is not trained again unless `retrain` is asked.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrid_search.data.annotations import annotated_urls
from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.data.pairs import FILTERS, Pair, make_pairs, with_docstring_rest
from hybrid_search.data.types import Function
from hybrid_search.encoder import TextEncoder
from hybrid_search.encoder.train import TrainConfig, train_encoder
from hybrid_search.encoder.trained import begin_training, finish_training, finished_training
from hybrid_search.evaluation.dense import csn_mrr, target_ranks
from hybrid_search.evaluation.mrr import mean_reciprocal_rank, recall_at
from hybrid_search.pipeline.valid import sample_queries

VALID_QUERIES, VALID_SEED = 1000, 13  # the same valid queries as `hybrid tune`


@dataclass
class TrainingData:
    train_pairs: list[Pair]
    removed: Counter
    considered: int
    valid_functions: list[Function]
    valid_queries: list[Pair]


def load_training_data(
    folder: Path,
    valid_queries: int = VALID_QUERIES,
    seed: int = VALID_SEED,
    *,
    held_out: AbstractSet[str] = frozenset(),
) -> TrainingData:
    """Train pairs without the annotated functions, nor the `held_out` ones (the real queries' gold functions,
    `RealQueries.urls()`), which are counted as annotated; and the valid docstring queries of `hybrid tune`."""
    annotated = annotated_urls(folder)
    train, valid = [], []
    for function in read_corpus(folder, ReadReport()):
        if function.partition == "train":
            train.append(function)
        elif function.partition == "valid":
            valid.append(function)
    removed: Counter = Counter()
    pairs = list(make_pairs(train, annotated | held_out, removed))
    # The valid queries stay those of `hybrid tune`, which excludes only the annotated functions.
    return TrainingData(pairs, removed, len(train), valid, sample_queries(valid, valid_queries, seed, annotated))


def held_out_settings(held_out: AbstractSet[str]) -> dict:
    """What a model folder records of the functions kept out of its training ({} when none): a training made
    before they were kept out is not taken for one made without them."""
    if not held_out:
        return {}
    digest = hashlib.sha1("\n".join(sorted(held_out)).encode()).hexdigest()[:16]
    return {"held_out": {"urls": len(held_out), "sha1": digest}}


def describe_filters(data: TrainingData) -> str:
    lines = [f"train partition: {data.considered:,} functions -> {len(data.train_pairs):,} pairs"]
    lines += [f"  removed by {name:<16} {data.removed.get(name, 0):>9,}" for name in FILTERS]
    lines.append(f"valid: {len(data.valid_functions):,} functions, {len(data.valid_queries):,} docstring queries")
    return "\n".join(lines)


def evaluate_on_valid_pool(encoder: TextEncoder, data: TrainingData) -> dict:
    """Exact-search MRR / recall@100 of each valid query's target among all valid functions, and the speed of
    encoding functions (timed alone, queries apart).

    Each target is searched as its stand-in (docstring without its first paragraph, the query) among the other
    functions, shown alike (pipeline/valid.py): the same as intact ones for a code-only encoder.
    """
    shown = [f.without_summary() for f in data.valid_functions]
    started = time.perf_counter()
    pool = encoder.encode_functions(shown)  # (pool, dims); the only work the timer covers
    seconds = time.perf_counter() - started
    position = {f.url: i for i, f in enumerate(data.valid_functions)}
    targets = np.array([position[q.function.url] for q in data.valid_queries])
    masked = encoder.encode_functions([q.function.without_summary() for q in data.valid_queries])
    queries = encoder.encode_queries([q.query for q in data.valid_queries])
    ranks = target_ranks(queries, pool, targets, stand_ins=masked)
    return {
        "mrr_pool": mean_reciprocal_rank(ranks.tolist()),
        "recall_at_100_pool": recall_at(ranks.tolist(), 100),
        "encode_functions_per_s": round(len(pool) / seconds, 1),
        "pool_size": len(pool),
    }


def already_trained(out: Path, settings: dict, *, retrain: bool, echo=print) -> dict | None:
    """The metadata of `out`'s complete training with `settings`, said in one line; None when it is to be trained."""
    done = None if retrain else finished_training(out, settings)
    if done is not None:
        score = done.get("valid_mrr_csn")  # a cross-encoder has no CSN MRR (it scores pairs, not vectors)
        detail = f", valid CSN MRR {score:.4f}" if score is not None else ""
        echo(f"{out} is already trained ({settings['kind']}{detail}); --retrain to train again")
    return done


def prepare_training(
    folder: Path, out: Path, settings: dict, *, retrain: bool, echo, held_out: AbstractSet[str]
) -> tuple[dict | None, TrainingData | None]:
    """(metadata, None) when `out` holds a finished training with `settings` (said in one line); else
    (None, the training data), with the folder marked unfinished and the pair filters' counts echoed."""
    if (done := already_trained(out, settings, retrain=retrain, echo=echo)) is not None:
        return done, None
    begin_training(out)
    data = load_training_data(folder, held_out=held_out)
    echo(describe_filters(data))
    return None, data


def run_training(
    folder: Path,
    config: TrainConfig,
    out: Path,
    *,
    retrain: bool = False,
    progress: bool = True,
    echo=print,
    max_pairs: int | None = None,
    held_out: AbstractSet[str] = frozenset(),
) -> dict:
    """Train one of our encoders into `out`, keep its best epoch (valid CSN MRR), score it on the valid pool.

    Does nothing when `out` already holds a complete training with the same settings (unless `retrain`);
    an interrupted one resumes from its checkpoint; `retrain` starts over. `held_out`: urls never trained on
    besides the annotated functions (the real queries' gold functions).
    """
    settings = {
        "kind": config.encoder.kind,
        "train": config.to_dict(),
        "max_pairs": max_pairs,
        **held_out_settings(held_out),
    }
    if (done := already_trained(out, settings, retrain=retrain, echo=echo)) is not None:
        return done
    begin_training(out, fresh=retrain, leftovers=("checkpoint.pt", "vocab.json"))
    data = load_training_data(folder, held_out=held_out)
    echo(describe_filters(data))
    pairs = data.train_pairs[:max_pairs] if max_pairs else data.train_pairs
    valid_pairs = data.valid_queries
    if config.encoder.reads_docstring:
        pairs, valid_pairs = [with_docstring_rest(p) for p in pairs], [with_docstring_rest(p) for p in valid_pairs]
    encoder, metadata = train_encoder(
        pairs, valid_pairs, config, out, score_epoch=csn_mrr, progress=progress, echo=echo
    )
    metadata["valid"] = evaluate_on_valid_pool(encoder, data)
    metadata["filters_removed"] = dict(data.removed)
    metadata = finish_training(out, metadata, settings)  # last: until here the folder's training is unfinished
    valid = metadata["valid"]
    echo(
        f"{out.name}: valid CSN MRR {metadata['valid_mrr_csn']:.4f}, pool MRR {valid['mrr_pool']:.4f}, "
        f"pool recall@100 {valid['recall_at_100_pool']:.3f}, {valid['encode_functions_per_s']:,.0f} functions/s, "
        f"trained in {metadata['train_seconds']:.0f}s; saved to {out}"
    )
    return metadata


def csn_scores(encoder: TextEncoder, queries: list[Pair]) -> tuple[float, float]:
    """CodeSearchNet's MRR for any encoder (each query against the 999 other targets of its batch), and its
    speed encoding the targets' functions (functions/s, timed apart from the queries)."""
    query_vectors = encoder.encode_queries([p.query for p in queries])
    targets = [p.function.without_summary() for p in queries]  # a docstring reader never sees the query itself
    started = time.perf_counter()
    code_vectors = encoder.encode_functions(targets)  # the only work the timer covers
    seconds = time.perf_counter() - started
    return csn_mrr(query_vectors, code_vectors), len(queries) / seconds


def run_minilm(
    folder: Path,
    out: Path,
    *,
    max_pairs: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    retrain: bool = False,
    progress: bool = True,
    echo=print,
    held_out: AbstractSet[str] = frozenset(),
    reads_docstring: bool = False,
) -> dict:
    """Zero-shot valid MRR of all-MiniLM-L6-v2, then a budgeted fine-tune on a seeded sample of train pairs.

    With `reads_docstring` the code side of each pair also reads the docstring's paragraphs after the first
    (the query), as a docstring-reading re-ranker reads candidates (`hybrid tune rerank --docstrings`).
    The same completion rule as `run_training`: a complete fine-tune with the same settings is not redone.
    """
    import random

    from hybrid_search.encoder.minilm import MiniLMEncoder, packaged_model_path

    settings = {
        "kind": "minilm",
        "max_pairs": max_pairs,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        **held_out_settings(held_out),
        **({"reads_docstring": True} if reads_docstring else {}),
    }
    done, data = prepare_training(folder, out, settings, retrain=retrain, echo=echo, held_out=held_out)
    if done is not None:
        return done
    # The zero-shot weights, fine-tuned below.
    encoder = MiniLMEncoder(packaged_model_path(), reads_docstring=reads_docstring)
    zero_shot, rate = csn_scores(encoder, data.valid_queries)
    echo(f"zero-shot MiniLM: valid CSN MRR {zero_shot:.4f} ({rate:.0f} functions/s)")
    pairs = random.Random(seed).sample(data.train_pairs, min(max_pairs, len(data.train_pairs)))
    if reads_docstring:
        pairs = [with_docstring_rest(p) for p in pairs]
    metadata = encoder.fine_tune(
        pairs, out, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress, echo=echo
    )
    tuned, rate = csn_scores(encoder, data.valid_queries)
    metadata.update(valid_mrr_csn=tuned, zero_shot_valid_mrr_csn=zero_shot, encode_functions_per_s=round(rate, 1))
    metadata = finish_training(out, metadata, settings)  # last: until here the folder's training is unfinished
    echo(
        f"fine-tuned MiniLM ({len(pairs)} pairs, {epochs} epoch(s), {metadata['train_seconds']:.0f}s): "
        f"valid CSN MRR {tuned:.4f} vs zero-shot {zero_shot:.4f}; saved to {out}"
    )
    return metadata
