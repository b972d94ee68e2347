"""Dual encoders: one for queries, one for code, sharing the token embedding table.

Kinds (all map a padded id matrix (batch, length) to a unit vector (batch, dim)):
- `nbow`: neural bag of words, masked mean of token embeddings (CodeSearchNet's best model on NDCG).
- `attn`: bag of words with learned attention pooling (a scalar relevance per token, softmax-weighted).
- `selfatt`: a small Transformer encoder (self-attention layers over embeddings + positions), attention pooled.
Trained with in-batch softmax over scaled cosine similarities (CodeSearchNet's loss).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("nbow", "attn", "selfatt")


@dataclass
class EncoderConfig:
    kind: str = "nbow"
    vocab_size: int = 0
    dim: int = 256
    layers: int = 1
    heads: int = 4
    max_query_len: int = 32
    max_code_len: int = 256
    dropout: float = 0.1
    scale: float = 20.0  # inverse temperature on cosine similarities
    reads_docstring: bool = False  # the code side reads the docstring before the code (see `Encoder.code_text`)

    def to_dict(self) -> dict:
        return asdict(self)


class AttentionPool(nn.Module):
    """Softmax over a learned per-token score, padding masked out."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(states).squeeze(-1).masked_fill(~mask, float("-inf"))  # (batch, length)
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        return torch.einsum("bl,bld->bd", weights, states)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    summed = (states * mask.unsqueeze(-1)).sum(1)
    return summed / mask.sum(1, keepdim=True).clamp(min=1)


class SideEncoder(nn.Module):
    """One side (query or code) of the dual encoder, on top of the shared embedding."""

    def __init__(self, config: EncoderConfig, max_len: int):
        super().__init__()
        self.kind = config.kind
        self.dropout = nn.Dropout(config.dropout)
        if config.kind in ("attn", "selfatt"):
            self.pool = AttentionPool(config.dim)
        if config.kind == "selfatt":
            self.positions = nn.Embedding(max_len, config.dim)
            layer = nn.TransformerEncoderLayer(
                config.dim,
                config.heads,
                dim_feedforward=2 * config.dim,
                dropout=config.dropout,
                batch_first=True,
                norm_first=True,
            )
            self.layers = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.dropout(embedded)  # (batch, length, dim)
        if self.kind == "nbow":
            return masked_mean(states, mask)
        if self.kind == "selfatt":
            positions = torch.arange(states.size(1), device=states.device)
            states = self.layers(states + self.positions(positions), src_key_padding_mask=~mask)
        return self.pool(states, mask)


class DualEncoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.kind not in KINDS:
            raise ValueError(f"unknown encoder kind {config.kind!r}; choose from {', '.join(KINDS)}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=config.dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.query = SideEncoder(config, config.max_query_len)
        self.code = SideEncoder(config, config.max_code_len)

    def encode(self, ids: torch.Tensor, side: str) -> torch.Tensor:
        """Unit vectors (batch, dim) for a padded id matrix (batch, length) of `side` 'query' or 'code'."""
        mask = ids != 0
        encoder = self.query if side == "query" else self.code
        return F.normalize(encoder(self.embedding(ids), mask), dim=-1)

    def loss(self, query_ids: torch.Tensor, code_ids: torch.Tensor) -> torch.Tensor:
        """In-batch softmax: each query's own code is the positive, the batch's other codes are negatives."""
        queries, codes = self.encode(query_ids, "query"), self.encode(code_ids, "code")
        logits = self.config.scale * queries @ codes.T  # (batch, batch)
        return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))
