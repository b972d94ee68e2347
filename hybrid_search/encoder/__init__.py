"""Text encoders: our trained code/query encoders (torch) and the MiniLM re-ranker, behind one protocol.

Load them through `hybrid_search.encoder.resolve` (`load_encoder`, `load_reranker`); this module imports
no torch, so `TextEncoder` can annotate code that never loads a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from hybrid_search.data.types import Function

__all__ = ["READ_TOKENS", "ZERO_SHOT", "TextEncoder"]

ZERO_SHOT = "minilm"  # the re-ranker name that means the packaged, not fine-tuned, all-MiniLM-L6-v2 weights
READ_TOKENS = 128  # word pieces a MiniLM bi-encoder reads of each text unless told otherwise (cost ~linear in them)


@runtime_checkable
class TextEncoder(Protocol):
    """What every encoder users meet offers: unit vectors for queries and functions in one space.

    Implemented by `Encoder` (encoder/encoder.py) and `MiniLMEncoder` (encoder/minilm.py).

    Attributes:
        name: the model's name (its folder's name, or "minilm" for the packaged weights).
        path: the model folder, None for an encoder that was never saved.
        dims: the vectors' dimension.

    Example:
        >>> encoder = load_encoder("nbow", models=Paths.from_env().models)
        >>> isinstance(encoder, TextEncoder)
        True
        >>> encoder.encode_queries(["read a csv file"]).shape  # (1, dims), unit norm, float32
    """

    name: str
    path: Path | None
    dims: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dims) unit-norm float32 vectors of query texts."""
        ...

    def encode_functions(self, functions: Sequence[Function]) -> np.ndarray:
        """(len(functions), dims) unit-norm float32 vectors of functions' code (docstrings removed)."""
        ...

    def fingerprint(self) -> str:
        """Identifies the weights, so vectors made by other weights are never mixed with these."""
        ...
