"""Tuned choices: which parameters `hybrid tune` chose for an alias, and for what they were chosen.

One JSON file per alias under `Paths.tuned` (`<alias>.json`, format version 1) holds, per mode, the chosen
parameters, what they were made for (the corpus files' fingerprint and, for modes with vectors, the encoder
and its weights), the valid scores when chosen, and where the grid of every candidate tried was written.
Without a stored choice a mode runs with its built-in defaults (retrieval/params.py), which carry the
provenance of the run that chose them.

A stored choice for other vectors than the index holds is refused: its weights and depths were fitted to
another encoder. Valid scores are reported only for an index the choice was made for.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_search import HybridError
from hybrid_search.retrieval.modes import params_of
from hybrid_search.retrieval.params import BUILT_IN, Params

FORMAT = 1


@dataclass(frozen=True)
class Choice:
    mode: str
    params: Params
    made_for: dict = field(default_factory=dict)  # {"corpus": digest, "count": n, "encoder": {"name", "weights"}}
    valid: dict = field(default_factory=dict)  # valid scores when chosen
    origin: str = "built-in defaults (docs/tuning/)"  # or the file it was read from
    grid: str | None = None  # where every candidate tried was written

    @property
    def stored(self) -> bool:
        return not self.origin.startswith("built-in")

    def matches(self, meta: dict) -> bool:
        """Was this choice made for the index whose `_meta` is `meta` (same corpus, same vectors)?"""
        build = meta.get("build", {})
        actual = {
            "corpus": build.get("files"),
            "count": meta.get("count"),
            "encoder": (build.get("encoder") or {}).get("weights"),
        }
        wanted = {**self.made_for, "encoder": (self.made_for.get("encoder") or {}).get("weights")}
        return all(actual[key] == value for key, value in wanted.items() if value is not None)

    def check_vectors(self, meta: dict, index: str) -> None:
        """Refuse a stored choice tuned for other vectors than `index` holds."""
        encoder = self.made_for.get("encoder")
        if not (self.stored and encoder):
            return
        actual = (meta.get("build", {}).get("encoder") or {}).get("weights")
        if actual != encoder.get("weights"):
            raise HybridError(
                f"the {self.mode} choice in {self.origin} was tuned for {encoder.get('name')} vectors (weights "
                f"{encoder.get('weights')}), but '{index}' holds vectors of weights {actual}; re-run "
                f"`hybrid tune {self.mode}` or delete that entry"
            )

    def to_dict(self) -> dict:
        return {"params": self.params.to_dict(), "made_for": self.made_for, "valid": self.valid, "grid": self.grid}


def tuned_file(folder: Path, alias: str) -> Path:
    return folder / f"{alias}.json"


def read_store(folder: Path, alias: str) -> dict:
    """The alias's stored choices by mode ({} when never tuned); a damaged file is one clear line."""
    path = tuned_file(folder, alias)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HybridError(f"tuned choices file {path} cannot be read ({exc}); fix or delete it") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("modes"), dict):
        raise HybridError(f"tuned choices file {path} is not format {FORMAT}; re-run `hybrid tune` or delete it")
    return data["modes"]


def load_choice(folder: Path, alias: str, mode: str) -> Choice:
    """The stored choice for `mode` on `alias`, else the built-in defaults."""
    entry = read_store(folder, alias).get(mode)
    kind = params_of(mode)
    if entry is None:
        return Choice(mode, kind(), **BUILT_IN.get(mode, {}))
    origin = str(tuned_file(folder, alias))
    if not isinstance(entry, dict):
        raise HybridError(f"{origin}: the {mode} entry must be an object")
    params = kind.from_dict(entry.get("params", {}), where=f"{origin} ({mode})")
    return Choice(mode, params, entry.get("made_for") or {}, entry.get("valid") or {}, origin, entry.get("grid"))


def choice_for_index(folder: Path, index: str, mode: str, meta: dict, choices_for: str | None = None) -> Choice:
    """The choice a `mode` retriever runs with on `index` (stored for `choices_for` or the index, else the
    defaults), refused in one line when it was tuned for other vectors than the index holds."""
    choice = load_choice(folder, choices_for or index, mode)
    choice.check_vectors(meta, index)
    return choice


def save_choice(folder: Path, alias: str, choice: Choice) -> Path:
    """Store `choice` for its mode, keeping the other modes' entries; written atomically."""
    path = tuned_file(folder, alias)
    modes = read_store(folder, alias)
    modes[choice.mode] = choice.to_dict()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False, encoding="utf-8") as handle:
        json.dump({"format": FORMAT, "alias": alias, "modes": modes}, handle, indent=2)
        handle.write("\n")
    os.replace(handle.name, path)
    return path
