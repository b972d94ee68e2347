"""Which process is building a version: a lease in the version's `_meta`, renewed while the build runs.

A prune, or a second build of the same corpus, must leave a version alone while its builder lives, and still
delete or resume one whose builder crashed. The lease names the builder (host, pid) and is renewed every
RENEW_S seconds; it is void once that pid is gone (same host) or once it was not renewed for EXPIRE_S
(any host: clocks of the machines involved are assumed to agree within a minute).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Self

from elasticsearch import ApiError, Elasticsearch, TransportError

RENEW_S = 20.0
EXPIRE_S = 120.0


def new_lease() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "renewed": time.time()}


def held_elsewhere(meta: dict) -> bool:
    """True while another live process builds the version whose `_meta` this is."""
    lease = meta.get("lease")
    if meta.get("status") != "building" or not isinstance(lease, dict):
        return False
    if time.time() - float(lease.get("renewed", 0)) > EXPIRE_S:
        return False
    if lease.get("host") != socket.gethostname():
        return True
    pid = lease.get("pid")
    return isinstance(pid, int) and pid != os.getpid() and _alive(pid)


def describe(meta: dict) -> str:
    lease = meta.get("lease") or {}
    return f"being built by pid {lease.get('pid')} on {lease.get('host')}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a pid this OS cannot even name: not ours to judge)
    return True


def write(client: Elasticsearch, index: str, lease: dict | None) -> None:
    """Set (or with None, drop) the lease, keeping the rest of `_meta` (put_mapping replaces it whole)."""
    mapping = client.indices.get_mapping(index=index)
    meta = {k: v for k, v in next(iter(mapping.values()))["mappings"].get("_meta", {}).items() if k != "lease"}
    client.indices.put_mapping(index=index, meta={**meta, **({"lease": lease} if lease else {})})


class Renewal:
    """Renews this process's lease on `index` in a daemon thread for the duration of a `with` block."""

    def __init__(self, client: Elasticsearch, index: str, every: float = RENEW_S):
        self.client, self.index, self.every = client, index, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{index}", daemon=True)

    def __enter__(self) -> Self:
        write(self.client, self.index, new_lease())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                write(self.client, self.index, new_lease())
            except (ApiError, TransportError):
                # The node is gone or the index was deleted: the build's own next request fails and says so.
                return
