"""A folder of Python code on disk (a git checkout or not): which files to index, and where a function links.

In a git checkout the files are those git would show (`git ls-files --cached --others --exclude-standard`:
tracked ones and new ones, not what .gitignore hides). Elsewhere the folder is walked. Either way virtual
environments (a folder with `pyvenv.cfg`), `site-packages`, caches and, outside git, build folders are
left out. Binary files (a NUL byte), files over `MAX_FILE_BYTES`, unreadable files and folders, and anything
that is not a regular file (a FIFO, a device) are skipped and counted; nothing is opened in a way that can
block (a FIFO swapped in under a file's name is refused at once, never waited on).

Symlinks: only what lies inside the folder. A file symlink is read when its target is inside the folder
(under the link's own path), skipped and counted otherwise; symlinked folders are never descended into
(neither git nor the walk follows them), and `--watch` watches only the folders the walk descends into.

A function links to the remote's web page at the commit (GitHub-style `blob/<sha>/<path>#L1-L9`) when the
checkout has an https or ssh remote `origin`, HEAD is on its upstream branch (pushed) and the file is as
committed; otherwise to the file on disk (`file:///abs/path#L1-L9`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
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
    root: Path | None = None  # the folder given: a file read later must still lie inside it (a symlink may move)


@dataclass
class Walk:
    files: list[SourceFile] = field(default_factory=list)
    binary: list[str] = field(default_factory=list)
    huge: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)  # not a regular file: a FIFO, a socket, a device
    outside: list[str] = field(default_factory=list)  # symlinks to a file outside the folder
    unreadable_folders: list[str] = field(default_factory=list)  # folders the walk could not list or enter

    def skipped(self) -> list[tuple[list[str], str]]:
        """(paths, what they are) of every kind of file or folder skipped, in the order they are reported."""
        return [
            (self.binary, "binary"),
            (self.huge, "over 1 MB"),
            (self.unreadable, "unreadable"),
            (self.special, "not a regular file"),
            (self.outside, "linked from outside the folder"),
            (self.unreadable_folders, "unreadable folders"),
        ]


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
        """Where a function at `path` (repository-relative) lines start-end is shown. A symlink's is the file on
        disk: the web page of a link shows the path it holds, not the code."""
        absolute = self.root / path[len(self.prefix) :]
        if self.web and self.commit and path not in self.changed and not _is_link(absolute):
            return f"{self.web}/blob/{self.commit}/{path}#L{start}-L{end}"
        return f"{absolute.as_uri()}#L{start}-L{end}"


def _is_link(path: Path) -> bool:
    try:
        return path.is_symlink()
    except OSError:
        return False


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
    try:
        return (folder / "pyvenv.cfg").is_file()
    except OSError:  # a folder we may not enter: the walk counts it as unreadable, it is no environment
        return False


_GIT_UNREADABLE = re.compile(r"could not open directory '(.+?)/?'")


def _git_listing(root: Path, found: Walk, prefix: str) -> set[str]:
    """Folder-relative Python paths git would show; folders git could not open are counted in `found`."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=False,
            cwd=root,
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        raise HybridError(f"git could not list the files of {root}")
    warnings = done.stderr.decode("utf-8", "surrogateescape")
    found.unreadable_folders += [prefix + folder for folder in _GIT_UNREADABLE.findall(warnings)]
    listed = done.stdout.decode("utf-8", "surrogateescape")
    return {name for name in listed.split("\0") if name.endswith(PYTHON_SUFFIXES)}


def _walked_listing(root: Path, found: Walk, skip: set[str]) -> set[str]:
    """Folder-relative Python paths under `root` outside git; folders that cannot be listed are counted in
    `found` and skipped (`--source /` meets /proc, another user's home ...). Symlinked folders are not entered."""
    names: set[str] = set()

    def unreadable(error: OSError) -> None:
        if error.errno != errno.ENOENT:  # gone while walking (a process's /proc folder): nothing to count
            found.unreadable_folders.append(Path(error.filename).relative_to(root).as_posix())

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = [d for d in dirs if d not in skip and not _is_environment(Path(folder, d))]
        relative = Path(folder).relative_to(root)
        names.update((relative / f).as_posix() for f in files if f.endswith(PYTHON_SUFFIXES))
    return names


def _candidates(checkout: Checkout, found: Walk) -> list[str]:
    """Folder-relative paths of the Python files to consider, sorted."""
    if checkout.git:
        names, skip = _git_listing(checkout.root, found, checkout.prefix), SKIP_ALWAYS
    else:
        skip = SKIP_ALWAYS | SKIP_UNTRACKED
        names = _walked_listing(checkout.root, found, skip)
    environments: dict[Path, bool] = {}

    def kept(name: str) -> bool:
        parts = name.split("/")[:-1]
        if any(part in skip or part.endswith(".egg-info") for part in parts):
            return False
        folders = [checkout.root.joinpath(*parts[: i + 1]) for i in range(len(parts))]
        return not any(environments.setdefault(f, _is_environment(f)) for f in folders)

    return sorted(name for name in names if kept(name))


def watched_folders(checkout: Checkout) -> list[Path]:
    """The folders the walk descends into, for `--watch`: a change anywhere else cannot change the index.
    Symlinked folders are not entered (one pointing at /etc would otherwise be watched); neither are
    git-ignored ones, environments or caches."""
    skip = SKIP_ALWAYS if checkout.git else SKIP_ALWAYS | SKIP_UNTRACKED
    ignored = _git_ignored_folders(checkout.root) if checkout.git else set()

    def entered(parent: str, name: str) -> bool:
        folder = Path(parent, name)
        return not (name in skip or name.endswith(".egg-info") or folder in ignored or _is_environment(folder))

    folders = []
    for parent, dirs, _files in os.walk(checkout.root):  # never follows a symlinked folder
        dirs[:] = [name for name in dirs if entered(parent, name)]
        folders.append(Path(parent))
    return folders


def _git_ignored_folders(root: Path) -> set[Path]:
    listed = _git(root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory") or ""
    return {root / name.rstrip("/") for name in listed.split("\0") if name.endswith("/")}


class NotRegularFile(OSError):
    """A FIFO, socket or device where a source file was expected."""


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, every symlink followed, lies inside the folder `root` (itself resolved)."""
    return path.resolve().is_relative_to(root)


def read_regular_file(path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of a regular file, or None when it holds more than `limit` bytes.

    Opened with O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, forever. Whatever the
    name now holds is checked on the open descriptor (no race with the check): a FIFO, socket or device
    raises NotRegularFile at once.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            return None
        data = handle.read(limit + 1)  # the file may have grown since fstat
    return None if len(data) > limit else data


def walk(checkout: Checkout) -> Walk:
    """Every Python file to index with its content hash; what is skipped is counted apart (`Walk.skipped`)."""
    found = Walk()
    for name in _candidates(checkout, found):
        absolute = checkout.root / name
        path = checkout.prefix + name
        if not inside(checkout.root, absolute):
            found.outside.append(path)
            continue
        try:
            data = read_regular_file(absolute)
        except FileNotFoundError:  # deleted but still in git's index, or a dangling link
            continue
        except NotRegularFile:
            found.special.append(path)
            continue
        except OSError:
            found.unreadable.append(path)
            continue
        if data is None:
            found.huge.append(path)
        elif b"\0" in data[:8192]:
            found.binary.append(path)
        else:
            found.files.append(SourceFile(path, absolute, hashlib.sha1(data).hexdigest(), checkout.root))
    return found


def read_source(file: SourceFile) -> tuple[str, str]:
    """(text, sha1 of the bytes read) of a file, decoded as Python does (PEP 263 coding line, BOM, else UTF-8).

    The hash is of these very bytes: the file may have changed since `walk`. Raises OSError when it cannot be
    read (or is no longer a regular file inside the folder), ValueError when it cannot be decoded (an unknown
    coding line included).
    """
    if file.root is not None and not inside(file.root, file.absolute):
        raise NotRegularFile(errno.EINVAL, "now a link to a file outside the folder", str(file.absolute))
    data = read_regular_file(file.absolute)
    if data is None:
        raise ValueError(f"now over {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:  # a coding line naming no codec Python has (`# -*- coding: bogus-codec -*-`)
        raise ValueError(error.msg) from None
    return data.decode(encoding), hashlib.sha1(data).hexdigest()
