"""A cross-encoder re-ranker: all-MiniLM-L6-v2's weights read (query, code) as one sequence, one score out.

Unlike the bi-encoder (`minilm.py`) nothing can be cached per function: each (query, candidate) pair runs
the whole Transformer, so its cost is K pairs per query, every time. Query and code attend to each other
in every layer; the score is the scaled cosine between the last layer's mean over the query's tokens and
its mean over the code's tokens. A linear head on the pooled pair would start from nothing (on synthetic
pairs it needed ~80 steps to leave chance, and a CPU affords a few hundred); the segment cosine starts
near the bi-encoder (the pooling MiniLM was trained with) and training teaches it the interaction.
`layers` keeps only the first Transformer layers (cheaper, less exact).

A model folder holds the Hugging Face model and tokenizer files and `cross.json` (what makes the folder a
cross-encoder for `resolve.load_reranker`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hybrid_search.data.code import strip_docstring
from hybrid_search.data.types import Function
from hybrid_search.encoder.minilm import code_text, packaged_model_path, quantized

CROSS_FILE = "cross.json"
SCALE = 20.0  # cosine -> logit, as in the bi-encoders' in-batch softmax


def is_cross_folder(folder: Path) -> bool:
    return (Path(folder) / CROSS_FILE).is_file()


@dataclass(frozen=True)
class Group:
    """One training example: a query, the code it describes, and codes mined as hard negatives."""

    query: str
    positive: str
    negatives: tuple[str, ...]


class CrossEncoder(torch.nn.Module):
    """Scores (query, function) pairs. Build a fresh one from the packaged weights with `CrossEncoder.fresh`,
    load a trained folder with `CrossEncoder.load`."""

    kind = "cross"

    def __init__(self, transformer, tokenizer, *, max_length: int, name: str, path: Path):
        super().__init__()
        self.transformer, self.tokenizer = transformer, tokenizer
        self.max_length, self.name, self.path, self.int8 = max_length, name, path, False

    @classmethod
    def fresh(cls, *, layers: int = 6, max_length: int = 256) -> CrossEncoder:
        """all-MiniLM-L6-v2 with its first `layers` layers."""
        transformer, tokenizer = _hf_model(packaged_model_path())
        transformer.encoder.layer = transformer.encoder.layer[:layers]
        transformer.config.num_hidden_layers = layers
        return cls(transformer, tokenizer, max_length=max_length, name="cross", path=packaged_model_path())

    @classmethod
    def load(cls, folder: Path, *, int8: bool = False) -> CrossEncoder:
        settings = json.loads((Path(folder) / CROSS_FILE).read_text())
        transformer, tokenizer = _hf_model(folder)
        model = cls(transformer, tokenizer, max_length=settings["max_length"], name=Path(folder).name, path=folder)
        model.eval()
        if int8:
            model = quantized(model)
            model.int8 = True
        return model

    def forward(self, queries: list[str], codes: list[str]) -> torch.Tensor:
        """Scores (logits) of the (query, code) pairs; the longer of the two is truncated first (the code, bar a
        docstring query longer than the limit)."""
        features = self.tokenizer(
            queries, codes, truncation="longest_first", max_length=self.max_length, padding=True, return_tensors="pt"
        )
        hidden = self.transformer(**features).last_hidden_state
        mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        code = features["token_type_ids"].unsqueeze(-1).to(hidden.dtype) * mask
        query = mask - code
        pooled_query = F.normalize((hidden * query).sum(1) / query.sum(1).clamp(min=1), dim=-1)
        pooled_code = F.normalize((hidden * code).sum(1) / code.sum(1).clamp(min=1), dim=-1)
        return SCALE * (pooled_query * pooled_code).sum(-1)

    @torch.inference_mode()
    def score(self, query: str, functions: Sequence[Function], batch_size: int = 64) -> np.ndarray:
        """One score per function for `query`, higher is better; the functions' docstrings are not read."""
        codes = [function_text(f) for f in functions]
        out = [self.forward([query] * len(chunk), chunk) for chunk in _chunks(codes, batch_size)]
        return torch.cat(out).float().numpy() if out else np.zeros(0, np.float32)

    def save(self, out: Path, settings: dict) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.transformer.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        (out / CROSS_FILE).write_text(json.dumps({"max_length": self.max_length, **settings}, indent=2))
        self.path, self.name = out, out.name

    def fit(
        self,
        groups: list[Group],
        *,
        epochs: int = 1,
        batch_size: int = 4,
        lr: float = 3e-5,
        seed: int = 13,
        progress: bool = True,
    ) -> dict:
        """Listwise softmax: each group's positive against its negatives (cross-entropy, the positive first)."""
        random.seed(seed)
        torch.manual_seed(seed)
        self.train()
        optimizer = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=0.01)
        losses, started = [], time.monotonic()
        for epoch in range(1, epochs + 1):
            order = list(range(len(groups)))
            random.Random(seed + epoch).shuffle(order)
            steps = range(0, len(order), batch_size)
            bar = tqdm(steps, desc=f"cross epoch {epoch}/{epochs}", disable=not progress)
            for start in bar:
                batch = [groups[i] for i in order[start : start + batch_size]]
                width = 1 + min(len(g.negatives) for g in batch)
                queries = [g.query for g in batch for _ in range(width)]
                codes = [c for g in batch for c in (g.positive, *g.negatives[: width - 1])]
                logits = self(queries, codes).view(len(batch), width)
                loss = F.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)
                optimizer.step()
                losses.append(loss.item())
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        self.eval()
        return {
            "groups": len(groups),
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "first_loss": float(np.mean(losses[:20])) if losses else None,
            "last_loss": float(np.mean(losses[-50:])) if losses else None,
            "train_seconds": round(time.monotonic() - started, 1),
        }


def function_text(function: Function) -> str:
    """What the cross-encoder reads of a candidate: its name and code without the docstring (as the bi-encoder)."""
    return code_text(function.func_name, strip_docstring(function.code))


def _hf_model(folder: Path):
    import transformers
    from transformers import AutoModel, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return (
        AutoModel.from_pretrained(str(folder), local_files_only=True),
        AutoTokenizer.from_pretrained(str(folder), local_files_only=True),
    )


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
