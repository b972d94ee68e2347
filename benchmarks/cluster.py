"""Faults under load on a local cluster, modelled on Elasticsearch's `ClusterDisruptionIT.testAckedIndexing`:
query load from concurrent clients while a node is killed, paused or the master goes; then every
acknowledged document must be readable from every copy of its shard.

Shared by tests/test_cluster.py (tiny data; asserts correctness, never timing) and scripts/cluster_faults.py
(the figures in docs/scaling.md: failed queries, p99 during the failover, seconds until green).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from elasticsearch import Elasticsearch

from hybrid_search.es.health import ids_in_copy, shard_copies
from hybrid_search.evaluation.stats import latency_percentiles
from hybrid_search.retrieval import Retriever


@dataclass
class LoadReport:
    """What the clients saw: one (start, seconds, mode, error or None) per query."""

    queries: list[tuple[float, float, str, str | None]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # each failure's status and message, to diagnose it

    @property
    def failed(self) -> list[tuple[float, float, str, str | None]]:
        return [q for q in self.queries if q[3] is not None]

    def p99_ms(self, start: float = 0.0, end: float = float("inf")) -> float:
        """p99 latency of the queries started in [start, end) (time.monotonic())."""
        window = [q[1] * 1000 for q in self.queries if start <= q[0] < end]
        return round(latency_percentiles(window)["p99"], 1)

    def summary(self, start: float = 0.0, end: float = float("inf")) -> dict:
        return {
            "queries": len(self.queries),
            "failed": len(self.failed),
            "errors": dict(Counter(q[3] for q in self.failed)),
            "messages": self.messages[:5],
            "p99_ms_all": self.p99_ms(),
            "p99_ms_failover": self.p99_ms(start, end),
            "queries_failover": sum(1 for q in self.queries if start <= q[0] < end),
        }


class QueryLoad:
    """`clients` threads, each with its own retrievers (one per mode), querying round-robin over the modes
    and `texts` until stopped, `pause` seconds apart (a lighter load, for a 2-core test machine). A query that
    raises after the client's own retries counts as failed.

    Example:
        >>> with QueryLoad(make, ["lexical", "dense"], texts, clients=4) as load:
        ...     kill_a_node()
        >>> load.report.failed
    """

    def __init__(
        self,
        make: Callable[[str], Retriever],
        modes: Sequence[str],
        texts: Sequence[str],
        clients: int = 4,
        pause: float = 0.0,
    ):
        self.make, self.modes, self.texts, self.clients, self.pause = make, list(modes), list(texts), clients, pause
        self.report = LoadReport()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _run(self, worker: int) -> None:
        retrievers = {mode: self.make(mode) for mode in self.modes}
        i = worker
        while not self._stop.is_set():
            mode, text = self.modes[i % len(self.modes)], self.texts[i % len(self.texts)]
            started = time.monotonic()
            error = message = None
            try:
                retrievers[mode].search(text, k=10)
            except Exception as exc:  # noqa: BLE001 -- every failure a user would see is counted, by type
                error = f"{mode}: {type(exc).__name__}"
                message = f"{error} {getattr(exc, 'status_code', '')}: {str(exc)[:300]}"
            with self._lock:
                self.report.queries.append((started, time.monotonic() - started, mode, error))
                if message:
                    self.report.messages.append(message)
            i += self.clients
            self._stop.wait(self.pause)

    def __enter__(self) -> QueryLoad:
        self._threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def wait_for_status(client: Elasticsearch, index: str, status: str = "green", timeout: float = 300) -> float:
    """Wait until `index` is `status` with every node back; returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            health = client.cluster.health(index=index, wait_for_status=status, timeout="2s").body
            if health["status"] == status and not health["timed_out"] and not health["relocating_shards"]:
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 -- a node still gone or electing a master: ask again
            time.sleep(0.5)
    raise TimeoutError(f"{index} was not {status} after {timeout:.0f}s")


def wait_for_master(client: Elasticsearch, other_than: str | None = None, timeout: float = 120) -> tuple[str, float]:
    """(name of the elected master, seconds waited) once one is elected that is not `other_than`."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        try:
            rows = client.cat.master(format="json").body
            if rows and rows[0]["node"] != other_than:
                return rows[0]["node"], time.monotonic() - started
        except Exception:  # noqa: BLE001 -- no master yet: ask again
            time.sleep(0.2)
        time.sleep(0.2)
    raise TimeoutError(f"no master other than {other_than} after {timeout:.0f}s")


def master_name(client: Elasticsearch) -> str:
    return client.cat.master(format="json").body[0]["node"]


@dataclass
class CopyCheck:
    """Every copy of every shard read alone, against the ids the cluster acknowledged."""

    acknowledged: int
    copies: int
    missing: dict[str, int]  # "shard/node" (or "nowhere") -> acknowledged ids that copy lacks
    lost: int  # acknowledged ids missing from at least one copy, or from every copy
    differing: int  # shards whose copies do not hold the same ids
    duplicates: int  # ids found in more than one shard
    read_back: int  # distinct ids over the shards


def check_copies(client: Elasticsearch, index: str, acknowledged: set[str]) -> CopyCheck:
    """Refresh, then read every started copy of `index` alone (`preference`): each acknowledged id must be
    in every copy of the shard that holds it, all copies of a shard must agree, and no id may be in two
    shards."""
    client.indices.refresh(index=index)
    by_shard: dict[int, list[tuple[str, set[str]]]] = {}
    for shard, node_id, _kind in shard_copies(client, index):
        by_shard.setdefault(shard, []).append((node_id, set(ids_in_copy(client, index, shard, node_id))))
    per_shard = {shard: copies[0][1] for shard, copies in by_shard.items()}
    owner = {doc: shard for shard, ids in per_shard.items() for doc in ids}
    for shard, copies in by_shard.items():  # an id any copy holds belongs to that shard
        for _, ids in copies[1:]:
            owner.update({doc: shard for doc in ids})
    missing: dict[str, int] = {}
    lost = acknowledged - set(owner)
    if lost:
        missing["nowhere"] = len(lost)
    for shard, copies in by_shard.items():
        expected = {doc for doc in acknowledged if owner.get(doc) == shard}
        for node_id, ids in copies:
            if lacking := expected - ids:
                missing[f"{shard}/{node_id}"] = len(lacking)
                lost |= lacking
    seen = Counter(doc for copies in by_shard.values() for doc in set().union(*(ids for _, ids in copies)))
    return CopyCheck(
        acknowledged=len(acknowledged),
        copies=sum(len(c) for c in by_shard.values()),
        missing=missing,
        lost=len(lost),
        differing=sum(1 for copies in by_shard.values() if len({frozenset(ids) for _, ids in copies}) > 1),
        duplicates=sum(1 for n in seen.values() if n > 1),
        read_back=len(seen),
    )
