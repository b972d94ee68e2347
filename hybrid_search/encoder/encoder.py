"""A trained encoder as users meet it: load a model folder, encode queries and functions to unit vectors.

A model folder holds `model.pt` (weights), `vocab.json`, `config.json` (architecture) and `training.json`
(data, hyper-parameters, timings and valid scores).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hybrid_search import HybridError
from hybrid_search.data.code import strip_docstring
from hybrid_search.data.types import Function
from hybrid_search.encoder.folders import weights_fingerprint
from hybrid_search.encoder.models import KINDS, DualEncoder, EncoderConfig
from hybrid_search.encoder.tokenize import code_subtokens, subtokens
from hybrid_search.encoder.vocab import Vocab


def pad(rows: Sequence[list[int]], length: int | None = None) -> torch.Tensor:
    """Right-pad id lists with 0 into a (batch, length) tensor."""
    length = length or max(1, max((len(r) for r in rows), default=1))
    out = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row[:length]
    return torch.from_numpy(out)


class Encoder:
    """Encode queries and functions with a trained `DualEncoder`.

    Example:
        >>> encoder = Encoder.load(Path("models/nbow"))  # by name: resolve.load_encoder("nbow", models=...)
        >>> vectors = encoder.encode_queries(["read a csv file"])  # (1, dim), unit norm
    """

    def __init__(self, model: DualEncoder, vocab: Vocab, name: str = "", path: Path | None = None):
        self.model, self.vocab, self.name, self.path = model.eval(), vocab, name, path
        self.config = model.config

    @property
    def dims(self) -> int:
        return self.config.dim

    @classmethod
    def load(cls, path: Path) -> Encoder:
        """The encoder saved in the model folder `path` (names are resolved by `resolve.load_encoder`)."""
        path = Path(path)
        settings = json.loads((path / "config.json").read_text())
        if settings.get("kind") not in KINDS:
            raise HybridError(f"{path} is not one of our encoders ({', '.join(KINDS)}); train one with `hybrid train`")
        config = EncoderConfig(**settings)
        model = DualEncoder(config)
        model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
        return cls(model, Vocab.load(path / "vocab.json"), name=path.name, path=path)

    def fingerprint(self) -> str:
        """sha1 of the saved weights, marked when the code side reads docstrings (identifies the vectors an index
        was built with)."""
        return "" if self.path is None else weights_fingerprint(self.path, self.config.reads_docstring)

    def reading_docstrings(self, reads: bool) -> Encoder:
        """This encoder (same weights) with a code side that reads each function's docstring before its code, or
        not: the shared token embeddings put a docstring's words where a query's land, trained to or not."""
        if reads == self.config.reads_docstring:
            return self
        copy = Encoder(self.model, self.vocab, name=self.name, path=self.path)
        copy.config = replace(self.config, reads_docstring=reads)
        return copy

    def save(self, path: Path, metadata: dict) -> None:
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), path / "model.pt")
        self.vocab.save(path / "vocab.json")
        (path / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        (path / "training.json").write_text(json.dumps(metadata, indent=2))

    def query_ids(self, text: str) -> list[int]:
        return self.vocab.ids(subtokens(text, self.config.max_query_len)) or [1]

    def code_ids(self, func_name: str, code_without_docstring: str) -> list[int]:
        return self.vocab.ids(code_subtokens(func_name, code_without_docstring, self.config.max_code_len)) or [1]

    def encode_queries(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        return self.encode_query_ids([self.query_ids(t) for t in texts], batch_size)

    def code_text(self, function: Function) -> str:
        """What the code side reads after the name: the body without its docstring literal, preceded by the
        docstring when the model was trained to read one (`reads_docstring`)."""
        body = strip_docstring(function.code)
        return f"{function.docstring}\n{body}" if self.config.reads_docstring and function.docstring else body

    def encode_functions(self, functions: Sequence[Function], batch_size: int = 256) -> np.ndarray:
        """Vectors of functions (name + `code_text`, as in training)."""
        rows = [self.code_ids(f.func_name, self.code_text(f)) for f in functions]
        return self._encode(rows, "code", batch_size)

    def encode_query_ids(self, rows: Sequence[list[int]], batch_size: int = 512) -> np.ndarray:
        return self._encode(rows, "query", batch_size)

    def encode_code_ids(self, rows: Sequence[list[int]], batch_size: int = 256) -> np.ndarray:
        return self._encode(rows, "code", batch_size)

    @torch.inference_mode()
    def _encode(self, rows: Sequence[list[int]], side: str, batch_size: int) -> np.ndarray:
        """Length-sorted batches (less padding), results put back in input order."""
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = np.zeros((len(rows), self.dims), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            out[chosen] = self.model.encode(pad([rows[i] for i in chosen]), side).numpy()
        return out
