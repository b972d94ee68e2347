"""Folders searched as one: each is an index alias, and, for an index built by `hybrid index --source`, a folder
on disk. Paths given by a person or an agent (absolute, or relative to a folder) are mapped to what the index
holds (paths relative to the repository root, see data/checkout.py) and back.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from elasticsearch import Elasticsearch

from hybrid_search import HybridError
from hybrid_search.es.indexing import aliased_index, index_meta, validate_name


@dataclass(frozen=True)
class Folder:
    name: str  # the index alias, which labels the folder's results
    root: Path | None  # the folder on disk; None for an index not built from one (the corpus)
    prefix: str = ""  # the folder's path inside its git repository: indexed paths start with it

    def doc_path(self, relative: str) -> str:
        """A path relative to the folder -> the path the index holds."""
        return self.prefix + relative

    def relative(self, doc_path: str) -> str:
        return doc_path.removeprefix(self.prefix)

    def file(self, doc_path: str) -> str | None:
        return str(self.root / self.relative(doc_path)) if self.root else None

    def locate(self, path: str) -> str | None:
        """`path` (absolute, or relative to this folder) relative to the folder, or None when it is not in it."""
        if self.root is None:
            return path.strip("/") or None
        given = Path(path).expanduser()
        absolute = (given if given.is_absolute() else self.root / given).resolve()
        try:
            relative = absolute.relative_to(self.root)
        except ValueError:
            return None
        return relative.as_posix() if absolute.exists() else None


def repository_prefix(root: Path) -> str:
    """The folder's path inside its git work tree (`git rev-parse --show-prefix`), "" outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-prefix"], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def folder_of_root(name: str, root: Path) -> Folder:
    root = root.resolve()
    return Folder(name=name, root=root, prefix=repository_prefix(root))


def folder_of_alias(client: Elasticsearch, alias: str) -> Folder:
    """The folder an alias was built from (its `_meta.build.source`), or a folder-less corpus index."""
    validate_name(alias)
    live = aliased_index(client, alias) or (alias if client.indices.exists(index=alias) else None)
    if live is None:
        raise HybridError(f"index or alias '{alias}' not found; build it with `hybrid index --source PATH`")
    source = index_meta(client, live).get("build", {}).get("source")
    if not source or not Path(source).is_dir():
        return Folder(name=alias, root=None)
    return folder_of_root(alias, Path(source))


def scoped_to(folders: list[Folder], path: str) -> dict[str, dict | None]:
    """folder name -> the filter that keeps `path` (a file, or everything under a folder), for the folders that
    hold it; a HybridError when none does."""
    scopes: dict[str, dict | None] = {}
    for folder in folders:
        relative = folder.locate(path)
        if relative is None:
            continue
        if relative == ".":  # the whole folder
            scopes[folder.name] = None
        elif folder.root is not None and (folder.root / relative).is_dir():
            scopes[folder.name] = {"prefix": {"path": folder.doc_path(relative.rstrip("/") + "/")}}
        else:
            scopes[folder.name] = {"term": {"path": folder.doc_path(relative)}}
    if not scopes:
        raise HybridError(f"path not found in {', '.join(describe(f) for f in folders)}: {path}")
    return scopes


def describe(folder: Folder) -> str:
    return f"{folder.name} ({folder.root})" if folder.root else folder.name
