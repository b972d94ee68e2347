"""Bulk loading: several concurrent bulk writers over one action stream, back-pressure retried, and every
document Elasticsearch did not take collected (with why) instead of raised."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import NamedTuple

from elasticsearch import Elasticsearch
from elasticsearch.helpers import streaming_bulk


class Rejected(NamedTuple):
    """A document ES did not index, after any retries."""

    doc_id: str
    status: int
    reason: str

    @property
    def transient(self) -> bool:
        """Back-pressure (429) or a server-side error: the document itself may be fine, a re-run retries it."""
        return self.status == 429 or self.status >= 500


@dataclass
class BulkResult:
    indexed: int = 0
    failed: list[Rejected] = field(default_factory=list)

    @property
    def transient(self) -> list[Rejected]:
        return [r for r in self.failed if r.transient]


class SharedActions:
    """One action stream read by several bulk writers: `next` under a lock (a generator is not thread-safe, and
    whoever takes the lock runs the stream's encoding, while the other writers' requests are in flight);
    `stop` ends it for every writer."""

    def __init__(self, actions: Iterable[dict]):
        self._actions, self._lock, self.stopped = iter(actions), threading.Lock(), False

    def __iter__(self) -> SharedActions:
        return self

    def __next__(self) -> dict:
        with self._lock:
            if self.stopped:
                raise StopIteration
            return next(self._actions)


def bulk_load(
    client: Elasticsearch,
    actions: Iterable[dict],
    on_done: Callable[[int], None] = lambda n: None,
    chunk_size: int = 500,
    max_retries: int = 5,
    initial_backoff: float = 1.0,
    copies: int = 1,
    writers: int = 2,
) -> BulkResult:
    """Stream actions with `writers` concurrent bulk requests; 429 back-pressure is retried with exponential
    backoff, and documents that still fail (with the document's own error, or the whole request's) are
    collected instead of raised.

    `copies`: each request waits until that many copies of every shard it writes are active
    (`wait_for_active_shards`), and a document whose `_shards.successful` reports fewer copies is counted
    as refused (503, transient: a re-run writes it again) rather than indexed.

    Several writers keep Elasticsearch's write threads busy while the client encodes and serialises the next
    chunk (one writer left one of two cores idle most of the time). A lost connection still raises
    (TransportError): the build stays resumable and the caller reports it; the other writers stop after their
    request in flight. Every action must target an alias (`load_alias`): a missing one fails with 404, never
    auto-creates.
    """
    result, lock, shared = BulkResult(), threading.Lock(), SharedActions(actions)

    def write() -> None:
        for ok, item in streaming_bulk(
            client,
            shared,
            chunk_size=chunk_size,
            max_chunk_bytes=20 * 1024 * 1024,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=max_retries,
            initial_backoff=initial_backoff,
            max_backoff=30,
            require_alias=True,
            wait_for_active_shards=copies,
        ):
            info = next(iter(item.values()))
            with lock:
                if ok and (short := _short_of_copies(info, copies)):
                    result.failed.append(Rejected(str(info.get("_id")), 503, short))
                elif ok:
                    result.indexed += 1
                else:
                    result.failed.append(Rejected(str(info.get("_id")), int(info.get("status") or 0), _reason(info)))
                on_done(1)

    writers = max(1, writers)
    with ThreadPoolExecutor(writers, thread_name_prefix="bulk") as pool:
        futures = [pool.submit(write) for _ in range(writers)]
        try:
            # Returns once every writer is done, or at the first error, which `result()` raises as one writer
            # would have.
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()
        finally:
            shared.stopped = True  # on an error or Ctrl-C the others stop after their request in flight
    return result


def _short_of_copies(info: dict, copies: int) -> str | None:
    """Why an acknowledged write does not count: fewer shard copies than asked took it (None: enough did)."""
    shards = info.get("_shards") or {}
    successful = shards.get("successful", copies)
    if successful >= copies:
        return None
    return f"written to {successful} of the {copies} shard copies required ({shards.get('failed', 0)} failed)"


def _reason(info: dict) -> str:
    """One line: `type: reason` of a per-document error and of its cause (where ES says what was wrong),
    or the failed request's error. Each part is cut short: ES quotes the offending value, however long."""
    error = info.get("error")
    if not isinstance(error, dict):
        return _one_line(str(error))
    reason = f"{error.get('type')}: {_one_line(str(error.get('reason')))}"
    cause = error.get("caused_by")
    if isinstance(cause, dict):
        reason += f" (caused by {cause.get('type')}: {_one_line(str(cause.get('reason')))})"
    return reason


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
