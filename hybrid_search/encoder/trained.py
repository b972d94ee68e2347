"""Whether a model folder holds a finished training: its `training.json`, finalised as the very last step.

`training.json` records the metadata of the training, the settings it was asked for and, once every step
(training and the valid evaluations) is done, `"complete": true`, written atomically. A folder without it
holds an interrupted training, which `hybrid train` resumes; one with it and the same settings is not
trained again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TRAINING_FILE = "training.json"


def read_training(folder: Path) -> dict:
    """The folder's training metadata; {} when there is none (or a torn or foreign file)."""
    try:
        metadata = json.loads((folder / TRAINING_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return metadata if isinstance(metadata, dict) else {}


def finished_training(folder: Path, settings: dict) -> dict | None:
    """The metadata of the folder's complete training made with `settings`; None if there is none."""
    metadata = read_training(folder)
    same = metadata.get("settings") == _as_json(settings)
    return metadata if metadata.get("complete") is True and same else None


def begin_training(folder: Path, *, fresh: bool = False, leftovers: tuple[str, ...] = ()) -> None:
    """Marks the folder's training as not finished (it is about to change); `fresh` also removes `leftovers`
    (e.g. a checkpoint), so the training starts over instead of resuming."""
    for name in (TRAINING_FILE, *(leftovers if fresh else ())):
        (folder / name).unlink(missing_ok=True)


def finish_training(folder: Path, metadata: dict, settings: dict) -> dict:
    """Writes `training.json` with the settings and `"complete": true`, atomically; the metadata written.

    Call it last: everything written before it belongs to an unfinished training until it returns.
    """
    final = {**metadata, "settings": _as_json(settings), "complete": True}
    partial = folder / (TRAINING_FILE + ".partial")
    partial.write_text(json.dumps(final, indent=2))
    os.replace(partial, folder / TRAINING_FILE)
    return final


def _as_json(settings: dict) -> dict:
    """`settings` as they read back from JSON (tuples become lists), so that they compare equal."""
    return json.loads(json.dumps(settings))
