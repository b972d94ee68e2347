"""`hybrid data download`: the official CodeSearchNet Python files, for users with internet access."""

from __future__ import annotations

import shutil
import urllib.request
import zipfile
from pathlib import Path

from hybrid_search import HybridError

PYTHON_ZIP = "https://s3.amazonaws.com/code-search-net/CodeSearchNet/v2/python.zip"
RESOURCES = "https://raw.githubusercontent.com/github/CodeSearchNet/master/resources"
FILES = {"queries.csv": f"{RESOURCES}/queries.csv", "annotationStore.csv": f"{RESOURCES}/annotationStore.csv"}


def _fetch(url: str, path: Path, echo) -> None:
    if path.exists():
        echo(f"have {path}")
        return
    echo(f"downloading {url}")
    partial = path.with_suffix(path.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError as exc:
        raise HybridError(f"could not download {url}: {exc}") from None
    partial.rename(path)


def download_official(target: Path, echo=print) -> Path:
    """Fetch python.zip (jsonl splits + dedupe pickle) and the annotations into `target`; resumable per file."""
    target.mkdir(parents=True, exist_ok=True)
    for name, url in FILES.items():
        _fetch(url, target / name, echo)
    archive = target / "python.zip"
    _fetch(PYTHON_ZIP, archive, echo)
    if not (target / "python").exists():
        staging = target / "python.unpacking"  # renamed into place only when whole, so a re-run redoes it
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise HybridError(f"{archive} is damaged ({exc}); delete it and run the command again") from None
        (staging / "python").rename(target / "python")
        shutil.rmtree(staging)
    echo(f"done: use --data {target}")
    return target
