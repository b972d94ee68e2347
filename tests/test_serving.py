"""`hybrid serve` under a hung cluster and under load, with uvicorn serving the real app: each search waits
a bounded time, a circuit answers 503 at once while the cluster is known down, searches run behind gates of
their own (429 past them) and never starve static files.

The hang is real: the throw-away node (tests/es_node.py) is stopped with SIGSTOP, so connections are
accepted and never answered, as with a cluster stuck in garbage collection; it is continued afterwards.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest
from helpers import delete_indices, serving, write_tiny_data

from hybrid_search.pipeline.build import build_index
from hybrid_search.web.app import create_app
from hybrid_search.web.gate import Busy, Gate, Limits
from hybrid_search.web.service import CIRCUIT_COOLDOWN_S, ES_TIMEOUT_S


def timed_get(url: str, params: dict | None = None, timeout: float = 30) -> tuple[int, float, httpx.Response]:
    started = time.monotonic()
    response = httpx.get(url, params=params, timeout=timeout)
    return response.status_code, time.monotonic() - started, response


@pytest.fixture
def node_index(second_node, tmp_path):
    """(node, alias, data) of the tiny data indexed on the throw-away node."""
    data = write_tiny_data(tmp_path / "data")
    alias = f"serve-{uuid.uuid4().hex[:8]}"
    client = second_node.client()
    build_index(client, data, alias, progress=False)
    yield second_node, alias, data
    delete_indices(client, alias)


def test_a_hung_cluster_is_503_in_bounded_time_then_at_once_and_static_files_still_answer(node_index):
    node, alias, data = node_index
    app = create_app(node.es_settings, alias, data, limits=Limits(search_workers=4, search_queue=4))
    with serving(app) as url:
        search = f"{url}/api/search"
        assert timed_get(search, {"q": "read csv", "mode": "lexical"})[0] == 200
        os.kill(node.pid(), signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(45) as pool:
                calls = [pool.submit(timed_get, search, {"q": f"read csv {i}", "mode": "lexical"}) for i in range(45)]
                time.sleep(0.5)  # every search is in: running, waiting, or already refused
                for path in ("/static/style.css", "/static/page.js", "/code.css", "/openapi.json"):
                    status, seconds, _ = timed_get(f"{url}{path}")
                    assert status == 200 and seconds < 2.0, (path, status, seconds)
                answers = [call.result() for call in calls]
            statuses = [status for status, _, _ in answers]
            assert set(statuses) <= {503, 429} and statuses.count(429) >= 45 - 8, statuses
            assert max(seconds for _, seconds, _ in answers) < ES_TIMEOUT_S + 3
            refused = next(r for status, _, r in answers if status == 429)
            assert refused.json()["error"].startswith("busy: ") and refused.headers["retry-after"] == "1"

            # Known down now: answered at once, on the API and on the page.
            status, seconds, response = timed_get(search, {"q": "read csv", "mode": "lexical"})
            assert status == 503 and seconds < 1.0
            assert response.json()["error"].startswith(f"Elasticsearch is not reachable at {node.url}")
            status, seconds, response = timed_get(url, {"q": "read csv"})
            assert status == 503 and seconds < 1.0 and "Elasticsearch is not reachable" in response.text
        finally:
            os.kill(node.pid(), signal.SIGCONT)
        deadline = time.monotonic() + CIRCUIT_COOLDOWN_S + 15
        while timed_get(search, {"q": "read csv", "mode": "lexical"})[0] != 200:  # the next probe closes it
            assert time.monotonic() < deadline, "the circuit never closed once the cluster was back"
            time.sleep(0.5)


def test_a_full_gate_refuses_at_once_and_runs_at_most_its_workers():
    """Real threads: two workers, one queue place; of five calls at once, three run (two at a time), two are
    refused without waiting."""
    gate, lock = Gate("rerank", workers=2, queue=1), threading.Lock()
    running, peak, outcomes = [0], [0], []

    def work() -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return "done"

    async def attempt() -> None:
        started = time.monotonic()
        try:
            outcomes.append((await gate.run(work), time.monotonic() - started))
        except Busy as exc:
            outcomes.append((str(exc), time.monotonic() - started))

    async def burst() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(attempt)

    anyio.run(burst)
    done = [seconds for what, seconds in outcomes if what == "done"]
    refused = [(what, seconds) for what, seconds in outcomes if what != "done"]
    assert len(done) == 3 and peak[0] == 2 and max(done) >= 0.55  # the third waited for a worker
    assert len(refused) == 2 and all(seconds < 0.2 and what.startswith("busy: 3 rerank") for what, seconds in refused)
    assert gate.admitted == 0
