"""Training a `DualEncoder` on (docstring, code) pairs, with checkpoints, fixed seeds and valid-based selection.

Each epoch ends with a score of the valid pairs' vectors, given by the caller (the pipeline passes
CodeSearchNet's MRR: each target among the 999 other targets of its batch of 1,000); the best epoch's
weights are kept. An interrupted run resumes from `checkpoint.pt`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hybrid_search.encoder.encoder import Encoder, pad
from hybrid_search.encoder.models import DualEncoder, EncoderConfig
from hybrid_search.encoder.tokenize import code_subtokens, subtokens
from hybrid_search.encoder.vocab import Vocab

# Scores an epoch from the valid pairs' vectors: queries (n, dim) and their codes (n, dim), row i of each
# describing pair i; higher is better.
EpochScore = Callable[[np.ndarray, np.ndarray], float]


@dataclass
class TrainConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    epochs: int = 10
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100  # linear warm-up: self-attention collapses to a constant vector without it
    clip_norm: float = 1.0
    vocab_size: int = 50_000
    min_count: int = 2
    seed: int = 13

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PairIds:
    """Token ids of pairs: queries[i] describes codes[i]."""

    queries: list[list[int]]
    codes: list[list[int]]


def save_atomically(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: Ctrl-C or a crash mid-write never leaves a torn checkpoint."""
    partial = path.with_name(path.name + ".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def tokenize_pairs(pairs, config: EncoderConfig) -> tuple[list[list[str]], list[list[str]]]:
    queries = [subtokens(p.query, config.max_query_len) for p in pairs]
    codes = [code_subtokens(p.function.func_name, p.code, config.max_code_len) for p in pairs]
    return queries, codes


def to_ids(vocab: Vocab, queries: list[list[str]], codes: list[list[str]]) -> PairIds:
    return PairIds([vocab.ids(q) or [1] for q in queries], [vocab.ids(c) or [1] for c in codes])


def valid_score(encoder: Encoder, valid: PairIds, score: EpochScore) -> float:
    """`score` of the valid pairs' vectors, from their pre-computed token ids."""
    return float(score(encoder.encode_query_ids(valid.queries), encoder.encode_code_ids(valid.codes)))


def folder_vocab(path: Path, token_lists, config: TrainConfig) -> Vocab:
    """The model folder's vocabulary if it has one (a resumed run), else one built from `token_lists`; saved."""
    vocab = Vocab.load(path) if path.exists() else Vocab.build(token_lists, config.vocab_size, config.min_count)
    vocab.save(path)
    return vocab


def resume(checkpoint: Path, config: TrainConfig, model, optimizer, scheduler, echo) -> dict:
    """Loads the checkpoint's weights and optimiser into the given ones when it is of the same run; its state."""
    state = {"epoch": 0, "best_mrr": -1.0, "best_epoch": 0, "history": []}
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        # Same run if everything but the epoch count matches (raising --epochs continues a finished run).
        if {**saved["config"], "epochs": config.epochs} == config.to_dict():
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            state = saved["state"]
            echo(f"resuming from epoch {state['epoch']} ({checkpoint})")
    return state


def train_epoch(
    model: DualEncoder, optimizer, scheduler, train: PairIds, config: TrainConfig, epoch: int, progress: bool
) -> list[float]:
    """One pass over the train pairs in the epoch's seeded order; the batches' losses."""
    model.train()
    steps_per_epoch = max(1, len(train.queries) // config.batch_size)
    order = np.random.default_rng(config.seed + epoch).permutation(len(train.queries))
    losses = []
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", disable=not progress)
    for step in bar:
        chosen = order[step * config.batch_size : (step + 1) * config.batch_size]
        loss = model.loss(pad([train.queries[i] for i in chosen]), pad([train.codes[i] for i in chosen]))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    return losses


def train_encoder(
    train_pairs,
    valid_pairs,
    config: TrainConfig,
    out: Path,
    *,
    score_epoch: EpochScore,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> tuple[Encoder, dict]:
    """Train, keep the best epoch (by `score_epoch` on the valid pairs) in `out`, return it and its metadata.

    Args:
        train_pairs, valid_pairs: `Pair`s (docstring query, function).
        config: hyper-parameters; not modified (the vocabulary size is set on a copy).
        out: the model folder: weights, vocabulary, `config.json`, `training.json` and `checkpoint.pt`.
        score_epoch: (valid query vectors, valid code vectors) -> score, higher is better; the history
            and metadata record it as `valid_mrr_csn` (the pipeline passes `evaluation.dense.csn_mrr`).

    Example:
        >>> encoder, metadata = train_encoder(pairs, valid, TrainConfig(epochs=2), Path("models/tiny"),
        ...                                   score_epoch=csn_mrr)
    """
    seed_everything(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    train_q, train_c = tokenize_pairs(train_pairs, config.encoder)
    vocab = folder_vocab(out / "vocab.json", (*train_q, *train_c), config)
    config = replace(config, encoder=replace(config.encoder, vocab_size=len(vocab)))  # the caller's stays as it was
    train = to_ids(vocab, train_q, train_c)
    valid = to_ids(vocab, *tokenize_pairs(valid_pairs, config.encoder))

    model = DualEncoder(config.encoder)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, config.warmup_steps))
    )
    checkpoint = out / "checkpoint.pt"
    state = resume(checkpoint, config, model, optimizer, scheduler, echo)
    encoder = Encoder(model, vocab, name=out.name, path=out)
    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        losses = train_epoch(model, optimizer, scheduler, train, config, epoch, progress)
        model.eval()
        mrr = valid_score(encoder, valid, score_epoch)
        state["history"].append({"epoch": epoch, "loss": float(np.mean(losses)), "valid_mrr_csn": mrr})
        echo(f"epoch {epoch}: train loss {np.mean(losses):.4f}, valid CSN MRR {mrr:.4f}")
        if mrr > state["best_mrr"]:
            state.update(best_mrr=mrr, best_epoch=epoch)
            save_atomically(model.state_dict(), out / "model.pt")
        state["epoch"] = epoch
        save_atomically(
            {
                "config": config.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": state,
            },
            checkpoint,
        )

    model.load_state_dict(torch.load(out / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    metadata = {
        "config": config.to_dict(),
        "train_pairs": len(train.queries),
        "valid_pairs": len(valid.queries),
        "vocab_size": len(vocab),
        "best_epoch": state["best_epoch"],
        "valid_mrr_csn": state["best_mrr"],
        "history": state["history"],
        "train_seconds": round(time.monotonic() - started, 1),
    }
    encoder.save(out, metadata)  # config.json is `config.encoder`, the model's own config
    return encoder, metadata
