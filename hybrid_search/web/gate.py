"""Admission to the blocking search work: bounded concurrency, a bounded queue, and 429 at once past it.

Searches block (Elasticsearch requests, the dense encoder, the re-ranker's model), so they run in worker
threads, but never in the thread pool Starlette shares with static files and the rest: a burst of slow
searches, or a hung cluster, cannot starve those. The re-ranker has a gate of its own, narrower: each of its
searches holds a model's activations for a hundred candidates, so memory grows with how many run at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class Busy(Exception):
    """Every worker busy and the queue full (HTTP 429, with Retry-After)."""

    retry_after_s = 1


@dataclass(frozen=True)
class Limits:
    """Workers and queue places per gate; `rerank` searches pass the rerank gate only."""

    search_workers: int = 8
    search_queue: int = 32
    rerank_workers: int = 2
    rerank_queue: int = 6


class Gate:
    """At most `workers` calls at once in threads of their own, `queue` more waiting; past that, `Busy`.

    Used from the event loop only: the admission count needs no lock.
    """

    def __init__(self, name: str, workers: int, queue: int):
        self.name, self.workers, self.capacity = name, workers, workers + queue
        self.admitted = 0
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop, on first use

    @property
    def what(self) -> str:
        """What the gate admits, in the busy message: `searches`, `rerank searches`."""
        return "searches" if self.name == "search" else f"{self.name} searches"

    async def run(self, fn: Callable[..., T], *args) -> T:
        if self.admitted >= self.capacity:
            raise Busy(
                f"busy: {self.admitted} {self.what} running or waiting (at most {self.capacity}); "
                f"retry in {Busy.retry_after_s} s"
            )
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)
        self.admitted += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        finally:
            self.admitted -= 1


class Gates:
    """The search gate and the re-ranker's."""

    def __init__(self, limits: Limits | None = None):
        limits = limits or Limits()
        self.search = Gate("search", limits.search_workers, limits.search_queue)
        self.rerank = Gate("rerank", limits.rerank_workers, limits.rerank_queue)

    def for_mode(self, mode: str | None) -> Gate:
        return self.rerank if mode == "rerank" else self.search
