"""`hybrid index --source --watch`: run a sync each time files of the folder change, through Elasticsearch
outages, until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from elasticsearch import ApiError, TransportError

from hybrid_search import HybridError
from hybrid_search.data.checkout import open_checkout, watched_folders
from hybrid_search.pipeline.source import SyncReport


def watch_source(
    root: Path,
    sync: Callable[[], SyncReport],
    on_report: Callable[[SyncReport], None],
    *,
    debounce_ms: int = 1000,
    stop_event: threading.Event | None = None,
    say: Callable[[str], None] = print,
    max_wait_s: float = 30.0,
) -> None:
    """Run `sync` each time files under `root` change (changes closer than `debounce_ms` are one batch),
    until Ctrl-C or `stop_event`. Only the folders the walk descends into are watched (`watched_folders`: no
    symlinked folder, nothing git ignores), again after each sync as folders come and go; watchfiles' default
    filter leaves out editor swap files; `sync` itself decides which changes matter.

    A failed sync (Elasticsearch down or restarting) never ends the watch: it is said once (`say`), retried
    after 1 s, 2 s, 4 s ... (at most `max_wait_s`) until one succeeds, which catches up with every change."""
    from watchfiles import DefaultFilter, watch

    stop_event = stop_event or threading.Event()
    folders = watched_folders(open_checkout(root))
    while not stop_event.is_set():
        try:
            for _changes in watch(
                *folders,
                watch_filter=DefaultFilter(),
                debounce=debounce_ms,
                stop_event=stop_event,
                recursive=False,
            ):
                report = _sync_until_done(sync, stop_event, say, max_wait_s)
                if report is None:
                    return
                on_report(report)
                if (now := watched_folders(open_checkout(root))) != folders:
                    folders = now
                    break  # watch again, over the folders there are now
            else:
                return  # stopped
        except FileNotFoundError:  # a folder removed between listing and watching it: list again
            folders = watched_folders(open_checkout(root))


def _sync_until_done(
    sync: Callable[[], SyncReport], stop_event: threading.Event, say: Callable[[str], None], max_wait_s: float
) -> SyncReport | None:
    """`sync()`, retried with backoff while it fails; None when stopped meanwhile."""
    wait, failed = 1.0, False
    while not stop_event.is_set():
        try:
            report = sync()
        except (HybridError, TransportError, ApiError) as error:
            if not failed:  # once per outage, not once per try
                say(f"sync failed: {_one_line(error)}; retrying every {max_wait_s:.0f} s at most until it succeeds")
                failed = True
            stop_event.wait(wait)
            wait = min(wait * 2, max_wait_s)
            continue
        if failed:
            say("sync succeeded again: caught up with the changes made meanwhile")
        return report
    return None


def _one_line(error: Exception) -> str:
    if isinstance(error, TransportError):
        return f"Elasticsearch is not answering ({type(error).__name__})"
    if isinstance(error, ApiError):
        return f"Elasticsearch answered {error.meta.status} {error.message}"
    return str(error)
