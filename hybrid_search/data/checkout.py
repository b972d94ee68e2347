"""A folder of Python code on disk (a git checkout or not): which files to index, and where a function links.

In a git checkout the files are those git would show (`git ls-files --cached --others --exclude-standard`:
tracked ones and new ones, not what .gitignore hides). Elsewhere the folder is walked. Either way virtual
environments (a folder with `pyvenv.cfg`), `site-packages`, caches and, outside git, build folders are
left out. Binary files (a NUL byte) and files over `MAX_FILE_BYTES` are skipped and counted.

A function links to the remote's web page at the commit (GitHub-style `blob/<sha>/<path>#L1-L9`) when the
checkout has an https or ssh remote `origin`, HEAD is on its upstream branch (pushed) and the file is as
committed; otherwise to the file on disk (`file:///abs/path#L1-L9`).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_search import HybridError

MAX_FILE_BYTES = 1024 * 1024  # generated tables and vendored bundles beyond this are not worth a search
PYTHON_SUFFIXES = (".py", ".pyw")
# Never code of the project itself: caches, tool folders and installed packages.
SKIP_ALWAYS = {".git", ".hg", ".svn", "__pycache__", "site-packages", "node_modules", ".tox", ".nox", ".eggs"}
SKIP_ALWAYS |= {".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
# Outside git (nothing says what is generated): the usual build and environment folders too.
SKIP_UNTRACKED = {"build", "dist", "venv", ".venv", "env", ".env"}


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the repository root (a git checkout) or to the folder, with `/`
    absolute: Path
    sha: str  # sha1 of the bytes: what decides whether the file changed


@dataclass
class Walk:
    files: list[SourceFile] = field(default_factory=list)
    binary: list[str] = field(default_factory=list)
    huge: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Checkout:
    """Where the code is and what a link to it needs."""

    root: Path  # the folder given, resolved
    repo: str  # `owner/name` from the remote, else the folder's name
    commit: str = ""  # HEAD, in a git checkout
    prefix: str = ""  # the folder's path inside its repository (`git rev-parse --show-prefix`)
    web: str = ""  # `https://host/owner/name` when HEAD is pushed to a web-style remote
    changed: frozenset[str] = frozenset()  # repository paths that differ from HEAD (edited, new)
    git: bool = False

    def url(self, path: str, start: int, end: int) -> str:
        """Where a function at `path` (repository-relative) lines start-end is shown."""
        if self.web and self.commit and path not in self.changed:
            return f"{self.web}/blob/{self.commit}/{path}#L{start}-L{end}"
        absolute = self.root / path[len(self.prefix) :]
        return f"{absolute.as_uri()}#L{start}-L{end}"


def _git(root: Path, *args: str) -> str | None:
    """stdout of a git command in `root`, or None when git is missing or the command fails."""
    try:
        done = subprocess.run(["git", *args], check=False, cwd=root, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "surrogateescape") if done.returncode == 0 else None


_REMOTE = re.compile(r"^(?:https://(?:[^@/]+@)?|ssh://(?:[^@/]+@)?|[^@/\s]+@)([^/:\s]+)(?::\d+)?[:/](.+?)(?:\.git)?/?$")


def web_of_remote(remote: str) -> tuple[str, str] | None:
    """(`https://host/owner/name`, `owner/name`) of a GitHub-style remote (https, ssh or scp-like); else None.

    Credentials in an https remote (`https://user:token@host/...`) are dropped, never kept in a link.
    """
    match = _REMOTE.match(remote.strip())
    if not match or "/" not in match.group(2):
        return None
    host, name = match.group(1), match.group(2)
    return f"https://{host}/{name}", name


def open_checkout(root: Path) -> Checkout:
    """The folder's git facts (none when it is not in a git work tree)."""
    root = root.resolve()
    if not root.is_dir():
        raise HybridError(f"source folder not found: {root}")
    prefix = _git(root, "rev-parse", "--show-prefix")
    if prefix is None:
        return Checkout(root=root, repo=root.name)
    commit = (_git(root, "rev-parse", "--verify", "-q", "HEAD") or "").strip()
    remote = web_of_remote(_git(root, "remote", "get-url", "origin") or "")
    top = Path((_git(root, "rev-parse", "--show-toplevel") or str(root)).strip())
    repo = remote[1] if remote else top.name
    pushed = bool(commit) and _git(root, "merge-base", "--is-ancestor", "HEAD", "@{upstream}") is not None
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", ".") or ""
    # Entries are `XY path` separated by NUL; paths are relative to the repository root.
    changed = frozenset(entry[3:] for entry in status.split("\0") if len(entry) > 3)
    return Checkout(
        root=root,
        repo=repo,
        commit=commit,
        prefix=prefix.strip(),
        web=remote[0] if remote and pushed else "",
        changed=changed,
        git=True,
    )


def _is_environment(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def _candidates(checkout: Checkout) -> list[str]:
    """Folder-relative paths of the Python files to consider, sorted."""
    if checkout.git:
        listed = _git(checkout.root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        if listed is None:
            raise HybridError(f"git could not list the files of {checkout.root}")
        names = {name for name in listed.split("\0") if name.endswith(PYTHON_SUFFIXES)}
        skip = SKIP_ALWAYS
    else:
        names, skip = set(), SKIP_ALWAYS | SKIP_UNTRACKED
        for folder, dirs, files in os.walk(checkout.root):
            dirs[:] = [d for d in dirs if d not in skip and not _is_environment(Path(folder, d))]
            relative = Path(folder).relative_to(checkout.root)
            names.update((relative / f).as_posix() for f in files if f.endswith(PYTHON_SUFFIXES))
    environments: dict[Path, bool] = {}

    def kept(name: str) -> bool:
        parts = name.split("/")[:-1]
        if any(part in skip or part.endswith(".egg-info") for part in parts):
            return False
        folders = [checkout.root.joinpath(*parts[: i + 1]) for i in range(len(parts))]
        return not any(environments.setdefault(f, _is_environment(f)) for f in folders)

    return sorted(name for name in names if kept(name))


def walk(checkout: Checkout) -> Walk:
    """Every Python file to index with its content hash; binary, huge and unreadable files counted apart."""
    found = Walk()
    for name in _candidates(checkout):
        absolute = checkout.root / name
        path = checkout.prefix + name
        try:
            if not absolute.is_file():  # deleted but still in git's index, or a dangling link
                continue
            if absolute.stat().st_size > MAX_FILE_BYTES:
                found.huge.append(path)
                continue
            data = absolute.read_bytes()
        except OSError:
            found.unreadable.append(path)
            continue
        if b"\0" in data[:8192]:
            found.binary.append(path)
            continue
        found.files.append(SourceFile(path, absolute, hashlib.sha1(data).hexdigest()))
    return found


def read_source(file: SourceFile) -> tuple[str, str]:
    """(text, sha1 of the bytes read) of a file, decoded as Python does (PEP 263 coding line, BOM, else UTF-8).

    The hash is of these very bytes: the file may have changed since `walk`. Raises OSError when it cannot be
    read, ValueError or LookupError when it cannot be decoded (SyntaxError for a bad coding line).
    """
    data = file.absolute.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding), hashlib.sha1(data).hexdigest()
