"""Settings from the environment and an optional config file, with defaults that work on a fresh machine.

Credentials come from environment variables or from a config file only the user can read (never from the
command line, so they do not end up in shell history or `ps`), and are never printed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hybrid_search import HybridError

DEFAULT_ES_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "csn-python"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EsSettings:
    """How to reach the cluster: URL (or several nodes' URLs, comma-separated) plus optional API key, basic
    auth and CA certificate."""

    url: str = DEFAULT_ES_URL
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_certs: str | None = None

    @classmethod
    def from_env(cls, url: str | None = None) -> EsSettings:
        """`url` (--es-url), else the environment, else the config file; each credential from the environment,
        else the config file."""
        env, file = os.environ, read_config()
        settings = cls(
            url=url or env.get("HYBRID_ES_URL") or file.get("url") or DEFAULT_ES_URL,
            api_key=env.get("HYBRID_ES_API_KEY") or file.get("api_key"),
            username=env.get("HYBRID_ES_USER") or file.get("username"),
            password=env.get("HYBRID_ES_PASSWORD") or file.get("password"),
            ca_certs=env.get("HYBRID_ES_CA_CERTS") or file.get("ca_certs"),
        )
        for one in settings.urls:
            check_url(one)
        return settings

    @property
    def urls(self) -> list[str]:
        """Each node of `url` ('http://a:9200,http://b:9200'): the client spreads requests over them."""
        return self.url.split(",")  # not stripped: a URL with spaces is refused (check_url), never guessed at


def check_url(url: str) -> None:
    """An http(s) URL without credentials in it (they would show in `ps`, shell history and error messages).

    A refused URL is never quoted back: it may hold a password.
    """
    if "@" in url:
        raise HybridError(
            "the Elasticsearch URL must not hold credentials: set HYBRID_ES_API_KEY, or HYBRID_ES_USER and "
            f"HYBRID_ES_PASSWORD, or put them in the config file ({config_path()})"
        )
    try:
        parts = urlsplit(url)
        # .port raises on a port out of 0-65535 or not a number; whitespace would reach the client unparsed.
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        valid = valid and not any(c.isspace() for c in url)
    except ValueError:
        valid = False
    if not valid:
        raise HybridError(
            "the Elasticsearch URL must look like http://HOST:PORT or https://HOST:PORT (several nodes: "
            "comma-separated, no spaces)"
        )


# ---------------------------------------------------------------- config file

CONFIG_KEYS = ("url", "api_key", "username", "password", "ca_certs")


def config_path() -> Path:
    """`HYBRID_CONFIG`, else `$XDG_CONFIG_HOME/hybrid-search/config.toml` (default ~/.config)."""
    if env := os.environ.get("HYBRID_CONFIG"):
        return Path(env)
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "hybrid-search" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The `[elasticsearch]` table of the config file; {} when there is no file.

    Like ssh with its keys, refuses a file that other users could read or change, since it may hold secrets.
    Errors never quote the file's content.
    """
    path = path or config_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        if os.environ.get("HYBRID_CONFIG"):
            raise HybridError(f"config file not found: {path} (HYBRID_CONFIG)") from None
        return {}
    if info.st_mode & 0o077:
        raise HybridError(
            f"config file {path} is open to group or others (mode {info.st_mode & 0o777:o}) and may hold "
            f"credentials: refusing it; run `chmod 600 {path}`"
        )
    if info.st_uid not in (os.geteuid(), 0):
        raise HybridError(f"config file {path} belongs to another user (uid {info.st_uid}): refusing it")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("elasticsearch", {})
    except tomllib.TOMLDecodeError as exc:  # its messages are fixed text and a position, never the content
        raise HybridError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise HybridError(f"config file {path} is not UTF-8 (byte {exc.start})") from None
    for key, value in table.items():
        if key not in CONFIG_KEYS:
            raise HybridError(f"config file {path}: unknown key '{key}' in [elasticsearch] ({', '.join(CONFIG_KEYS)})")
        if not isinstance(value, str):
            raise HybridError(f"config file {path}: '{key}' must be a string")
    return {key: value for key, value in table.items() if value}


def default_data_dir() -> Path | None:
    """`HYBRID_DATA`, else the shared CSN folder beside the checkout (or the working folder) if it exists."""
    if env := os.environ.get("HYBRID_DATA"):
        return Path(env)
    for base in (REPO_ROOT, Path.cwd()):
        candidate = base.parent / "shared" / "csn-python"
        if candidate.is_dir():
            return candidate
    return None


def default_real_queries_dir() -> Path | None:
    """The real-query validation folder (pipeline/realq.py): `HYBRID_REAL_QUERIES` (set but empty: none), else
    the shared `cosqa-valid` folder beside the checkout (or the working folder) if it exists."""
    if "HYBRID_REAL_QUERIES" in os.environ:
        return Path(os.environ["HYBRID_REAL_QUERIES"]) if os.environ["HYBRID_REAL_QUERIES"] else None
    for base in (REPO_ROOT, Path.cwd()):
        candidate = base.parent / "shared" / "cosqa-valid"
        if candidate.is_dir():
            return candidate
    return None


def home_dir() -> Path:
    """Where the tool keeps its local Elasticsearch install, node state and artifacts (`HYBRID_HOME` overrides).

    As root, ES must run as an unprivileged user that can traverse every parent folder, and root's home
    is usually mode 700, so root gets a folder under /var/lib instead of ~/.cache.
    """
    if env := os.environ.get("HYBRID_HOME"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hybrid-search")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hybrid-search"


def es_heap_override() -> str | None:
    """`HYBRID_ES_HEAP` (e.g. 1g): the local node's heap when the user fixes it."""
    return os.environ.get("HYBRID_ES_HEAP") or None


@dataclass(frozen=True)
class Paths:
    """Every folder the tool writes to, resolved once from the environment and passed down.

    Nothing is written inside the package: models, caches and tuned choices live under the tool's home
    (`HYBRID_HOME`), outputs a command was asked for under `runs/` in the working folder.
    """

    home: Path
    models: Path  # trained model folders, `models/<name>/` [HYBRID_MODELS]
    cache: Path  # re-ranker embedding caches [HYBRID_CACHE_DIR]
    tuned: Path  # tuned choices, one JSON file per alias (`hybrid tune`)
    runs: Path  # eval outputs, tuning grids, rejects files

    @classmethod
    def from_env(cls) -> Paths:
        env, home = os.environ, home_dir()
        return cls(
            home=home,
            models=Path(env.get("HYBRID_MODELS") or home / "models"),
            cache=Path(env.get("HYBRID_CACHE_DIR") or home / "cache"),
            tuned=home / "tuned",
            runs=Path("runs"),
        )
