"""Model folders and what identifies them, without torch: where a model named `nbow` lives, the fingerprint of
its weights (which names the vectors an index was built with), and whether its code side reads docstrings.

A model is named by a folder path, or by a name looked up in the models folder (`Paths.models`); a folder is a
model when it holds `config.json`. Loading one is encoder/resolve.py's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hybrid_search import HybridError


def find_model(name_or_path: str | Path, models: Path) -> Path | None:
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
    folder = find_model(name_or_path, models)
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
