"""Settings from the environment, with defaults that work on a fresh machine.

Credentials are read from the environment only (never from the command line, so they do not end up in
shell history or `ps`), and are never printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ES_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "csn-python"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EsSettings:
    """How to reach the cluster: URL plus optional API key, basic auth and CA certificate."""

    url: str = DEFAULT_ES_URL
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_certs: str | None = None

    @classmethod
    def from_env(cls, url: str | None = None) -> EsSettings:
        env = os.environ
        return cls(
            url=url or env.get("HYBRID_ES_URL") or DEFAULT_ES_URL,
            api_key=env.get("HYBRID_ES_API_KEY") or None,
            username=env.get("HYBRID_ES_USER") or None,
            password=env.get("HYBRID_ES_PASSWORD") or None,
            ca_certs=env.get("HYBRID_ES_CA_CERTS") or None,
        )


def default_data_dir() -> Path | None:
    """`HYBRID_DATA`, else the shared CSN folder beside the checkout (or the working folder) if it exists."""
    if env := os.environ.get("HYBRID_DATA"):
        return Path(env)
    for base in (REPO_ROOT, Path.cwd()):
        candidate = base.parent / "shared" / "csn-python"
        if candidate.is_dir():
            return candidate
    return None


def home_dir() -> Path:
    """Where the tool keeps its local Elasticsearch install and node state (`HYBRID_HOME` overrides).

    As root, ES must run as an unprivileged user that can traverse every parent folder, and root's home
    is usually mode 700, so root gets a folder under /var/lib instead of ~/.cache.
    """
    if env := os.environ.get("HYBRID_HOME"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hybrid-search")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hybrid-search"
