"""`hybrid train --encoder cross`: hard negatives mined with our first-stage encoder, then the cross-encoder.

Each training group is a train-partition pair (docstring's first paragraph, code) plus negatives drawn from
the first stage's top candidates for that query among all train pairs' code, minus the target's near
duplicates (forks and copies: the same docstring, or mostly the same code tokens), which would be
positives in disguise. The same mining over the valid partition gives a quick check at the end: the
target's rank among itself and its mined negatives, by the cross-encoder and by the first stage.
"""

from __future__ import annotations

import random
import re
from collections.abc import Set as AbstractSet
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hybrid_search.data.code import first_paragraph, strip_docstring
from hybrid_search.data.pairs import Pair
from hybrid_search.encoder import TextEncoder
from hybrid_search.encoder.cross import CrossEncoder, Group
from hybrid_search.encoder.minilm import code_text
from hybrid_search.encoder.trained import finish_training
from hybrid_search.evaluation.mrr import mean_reciprocal_rank
from hybrid_search.pipeline.training import held_out_settings, prepare_training

MINED_DEPTH = 20  # negatives are drawn from the first stage's top 20 (near duplicates of the target left out)
CHECK_QUERIES = 100
_TOKENS = re.compile(r"\w+")


def is_near_duplicate(target: Pair, other: Pair, threshold: float = 0.7) -> bool:
    """Same docstring summary, or code whose token sets overlap by `threshold` (Jaccard) or more."""
    if other.query.lower() == target.query.lower():
        return True
    a, b = set(_TOKENS.findall(target.code)), set(_TOKENS.findall(other.code))
    return bool(a | b) and len(a & b) / len(a | b) >= threshold


def mine_negatives(
    encoder: TextEncoder, queries: list[Pair], pool: list[Pair], depth: int = MINED_DEPTH, *, progress: bool = True
) -> list[list[Pair]]:
    """Per query, the first stage's top `depth` functions of `pool` that are neither its target nor a near
    duplicate of it, best first (exact search over the encoder's vectors)."""
    position = {p.function.url: i for i, p in enumerate(pool)}
    codes = encoder.encode_functions([p.function.masked() for p in pool])
    vectors = encoder.encode_queries([q.query for q in queries])
    mined = []
    for start in tqdm(range(0, len(queries), 256), desc="mining negatives", disable=not progress):
        scores = vectors[start : start + 256] @ codes.T
        wide = min(depth * 3, scores.shape[1])  # room for the near duplicates left out
        top = np.argpartition(-scores, wide - 1, axis=1)[:, :wide]
        for query, row, row_scores in zip(queries[start : start + 256], top, scores):
            row = row[np.argsort(-row_scores[row], kind="stable")]
            target = position.get(query.function.url)
            kept = [pool[i] for i in row if i != target and not is_near_duplicate(query, pool[i])]
            mined.append(kept[:depth])
    return mined


def training_groups(pairs: list[Pair], mined: list[list[Pair]], negatives: int, seed: int) -> list[Group]:
    """One group per pair with `negatives` codes drawn at random from its mined list (seeded)."""
    rng = random.Random(seed)
    groups = []
    for pair, candidates in zip(pairs, mined):
        if len(candidates) >= negatives:
            drawn = rng.sample(candidates, negatives)
            groups.append(Group(pair.query, _text(pair), tuple(_text(p) for p in drawn)))
    return groups


def mined_mrr(score, queries: list[Pair], mined: list[list[Pair]]) -> float:
    """MRR of each target among itself and its mined negatives, ranked by `score(query, functions)`."""
    ranks = []
    for query, negatives in zip(queries, mined):
        functions = [query.function.masked()] + [p.function for p in negatives]
        ranks.append(_rank_of_first(score(query.query, functions)))
    return mean_reciprocal_rank(ranks)


def first_stage_score(encoder: TextEncoder):
    """`score(query, functions)` by the first-stage encoder's cosine."""
    return lambda query, functions: encoder.encode_functions(functions) @ encoder.encode_queries([query])[0]


def run_cross(
    folder: Path,
    out: Path,
    first_stage: TextEncoder,
    *,
    max_pairs: int,
    negatives: int,
    layers: int,
    max_length: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    retrain: bool = False,
    progress: bool = True,
    echo=print,
    held_out: AbstractSet[str] = frozenset(),
) -> dict:
    """Mine, train and check a cross-encoder into `out`; the completion rule of `run_training`."""
    settings = {
        "kind": "cross",
        "first_stage": first_stage.name,
        "max_pairs": max_pairs,
        "negatives": negatives,
        "layers": layers,
        "max_length": max_length,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        **held_out_settings(held_out),
    }
    done, data = prepare_training(folder, out, settings, retrain=retrain, echo=echo, held_out=held_out)
    if done is not None:
        return done
    pairs = random.Random(seed).sample(data.train_pairs, min(max_pairs, len(data.train_pairs)))
    groups = training_groups(
        pairs, mine_negatives(first_stage, pairs, data.train_pairs, progress=progress), negatives, seed
    )
    echo(f"{len(groups):,} groups of 1 + {negatives} (negatives from {first_stage.name}'s top {MINED_DEPTH})")
    model = CrossEncoder.fresh(layers=layers, max_length=max_length)
    checks = data.valid_queries[:CHECK_QUERIES]
    mined = mine_negatives(first_stage, checks, _valid_pairs(data), progress=progress)
    # The references: the first stage that mined the negatives, and the untrained start.
    check = {"queries": len(checks), "candidates": 1 + MINED_DEPTH}
    check["mrr_first_stage"] = mined_mrr(first_stage_score(first_stage), checks, mined)
    check["mrr_cross_untrained"] = before = mined_mrr(model.score, checks, mined)
    metadata = model.fit(groups, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    model.save(out, {"layers": layers})
    check["mrr_cross"] = mined_mrr(model.score, checks, mined)
    metadata.update(kind="cross", layers=layers, max_length=max_length, valid_mined=check)
    metadata = finish_training(out, metadata, settings)  # last: until here the folder's training is unfinished
    echo(
        f"cross-encoder ({len(groups)} groups, {metadata['train_seconds']:.0f}s): valid MRR among 1 + {MINED_DEPTH} "
        f"mined candidates {check['mrr_cross']:.4f} (untrained {before:.4f}, first stage "
        f"{check['mrr_first_stage']:.4f}); saved to {out}"
    )
    return metadata


def _valid_pairs(data) -> list[Pair]:
    """Every valid function as a pair (its summary, itself), the pool valid negatives are mined from."""
    return [Pair(first_paragraph(f.docstring), f, strip_docstring(f.code)) for f in data.valid_functions]


def _text(pair: Pair) -> str:
    return code_text(pair.function.func_name, pair.code)


def _rank_of_first(scores: np.ndarray) -> int:
    """1-based rank of element 0 (ties count against it)."""
    return int((scores[1:] >= scores[0]).sum()) + 1
