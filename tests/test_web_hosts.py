"""`hybrid serve` facing a hostile browser or client (issue 27): DNS rebinding (a foreign Host header), the page's
URLs, uvicorn's own 400, 404/405 bodies, HEAD, control-character queries, the busy message, and a mode that
the alias lost. Against the real node, with uvicorn serving the real app where the server matters."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from helpers import serving

from hybrid_search.config import EsSettings
from hybrid_search.pipeline.build import build_index
from hybrid_search.pipeline.source import sync_source
from hybrid_search.web.app import SECURITY_HEADERS, create_app
from hybrid_search.web.gate import Busy, Gate

REPO = Path(__file__).resolve().parents[1]
FOREIGN = "rebind.attacker.example"
PRIVATE = 'def private_token_reader(path):\n    """Read the private token."""\n    return open(path).read()\n'
CSP = SECURITY_HEADERS["Content-Security-Policy"]


@pytest.fixture
def private_index(es, tmp_path, index_name) -> str:
    """An index of a folder holding code nobody else should read."""
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "secret.py").write_text(PRIVATE)
    sync_source(es, folder, index_name, progress=False)
    return index_name


def get(url: str, path: str, host: str | None = None, **params) -> httpx.Response:
    headers = {"Host": host} if host else {}
    return httpx.get(f"{url}{path}", params=params, headers=headers, timeout=30)


def test_a_foreign_host_is_refused_and_the_page_urls_name_no_host(es_settings, private_index, paths):
    query = {"q": "read private token", "mode": "lexical"}
    with serving(create_app(es_settings, private_index, None, paths)) as url:
        port = url.rsplit(":", 1)[1]
        for path in ("/api/search", "/"):
            refused = get(url, path, FOREIGN, **query)
            assert refused.status_code == 400 and "private_token_reader" not in refused.text, path
            assert refused.json()["error"].startswith(f"this server does not answer for host '{FOREIGN}'")
            assert refused.headers["content-security-policy"] == CSP
        for host in (None, f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
            found = get(url, "/api/search", host, **query)
            assert found.status_code == 200 and found.json()["results"][0]["func_name"] == "private_token_reader"
        page = get(url, "/", f"localhost:{port}", **query)
        assert 'href="/static/style.css"' in page.text and 'src="/static/page.js"' in page.text
        assert "localhost" not in page.text  # nothing of the Host header is written into the page
    with serving(create_app(es_settings, private_index, None, paths, allowed_hosts=["code.lan"])) as url:
        assert get(url, "/api/search", "code.lan:8000", **query).status_code == 200
        assert get(url, "/api/search", FOREIGN, **query).status_code == 400


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"hybrid serve exited: {server.stderr.read().decode()}"
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"hybrid serve did not answer {url} within {timeout_s}s")


def raw_request(port: int, *parts: bytes) -> bytes:
    """The raw answer to a request sent in `parts`, a pause between them (what the server holds unfinished)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(0.2)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_hybrid_serve_answers_its_hosts_only_and_its_own_400_carries_the_csp(es_settings, private_index, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "hybrid_search.cli", "--es-url", es_settings.url, "--index", private_index]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYBRID_MODELS": str(tmp_path / "no-models")}
    serve = [*command, "serve", "--port", str(port), "--allow-host", "code.lan"]
    server = subprocess.Popen(serve, stderr=subprocess.PIPE, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/static/style.css", server)
        assert get(url, "/api/search", "code.lan", q="private token").status_code == 200
        assert get(url, "/api/search", FOREIGN, q="private token").status_code == 400
        # A request line over h11's 16 KiB limit for what it holds unfinished is answered by uvicorn itself.
        answer = raw_request(port, b"GET /?q=" + b"a" * 20_000, b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        assert head.startswith("http/1.1 400"), head[:200]
        assert f"content-security-policy: {CSP.lower()}" in head, head
    finally:
        server.terminate()
        server.wait(10)


def test_404_and_405_are_error_json_and_head_of_the_page_is_answered(es, es_settings, tiny_data, index_name):
    build_index(es, tiny_data, index_name, progress=False)
    app = TestClient(create_app(es_settings, index_name, tiny_data), base_url="http://localhost")
    missing = app.get("/nowhere")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found: GET /nowhere"}
    wrong = app.post("/api/search")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed: POST /api/search"}
    assert wrong.headers["content-security-policy"] == CSP
    head = app.head("/")
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/html") and not head.content


@pytest.mark.parametrize("text", ["\x00", "\x00\x01\x1f\x7f", " \t\x00 ", "\u200b\u200d"])
def test_a_query_of_control_or_invisible_characters_is_refused_as_empty(es, es_settings, tiny_data, index_name, text):
    build_index(es, tiny_data, index_name, progress=False)
    app = TestClient(create_app(es_settings, index_name, tiny_data), base_url="http://localhost")
    refused = app.get("/api/search", params={"q": text})
    assert refused.status_code == 422 and refused.json() == {"error": "q: the query is empty"}
    page = app.get("/", params={"q": text})
    assert page.status_code == 422 and "q: the query is empty" in page.text
    kept = app.get("/api/search", params={"q": "read\x00csv\x01file", "mode": "lexical"})  # control chars: spaces
    assert kept.status_code == 200 and kept.json()["results"][0]["func_name"] == "read_csv_file"


def test_the_busy_message_names_what_is_busy_once():
    gate = Gate("search", workers=1, queue=0)
    messages: list[str] = []

    async def attempt() -> None:
        try:
            await gate.run(time.sleep, 0.3)
        except Busy as exc:
            messages.append(str(exc))

    async def burst() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(attempt)

    anyio.run(burst)
    assert messages == ["busy: 1 searches running or waiting (at most 1); retry in 1 s"]
    assert Gate("rerank", 1, 0).what == "rerank searches"


def test_a_mode_the_alias_lost_is_400_at_once_not_503(es, es_settings, tiny_data, index_name, trained):
    from hybrid_search.encoder.encoder import Encoder

    build_index(es, tiny_data, index_name, progress=False, encoder=Encoder.load(trained[3]))
    app = TestClient(create_app(es_settings, index_name, tiny_data), base_url="http://localhost")
    for mode in ("dense", "hybrid"):
        assert app.get("/api/search", params={"q": "read csv", "mode": mode}).status_code == 200
    build_index(es, tiny_data, index_name, progress=False, rebuild=True)  # the alias moves: no vectors now
    for mode in ("dense", "hybrid"):  # well within the 30 s the modes are trusted for
        answer = app.get("/api/search", params={"q": "read csv", "mode": mode})
        assert answer.status_code == 400, answer.text
        assert answer.json() == {
            "error": f"mode '{mode}' is not available on '{index_name}'; available: baseline, lexical"
        }
    assert app.get("/api/search", params={"q": "read csv"}).json()["mode"] == "lexical"


def test_with_every_node_of_a_cluster_down_the_503_says_no_node_answered(tiny_data):
    """The page retries a refused connection on the other nodes; only when none answered is it a 503, which
    says so (and not that a cluster some of whose nodes answer is unreachable)."""
    nowhere = "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3"  # nothing listens on any
    app = TestClient(create_app(EsSettings(url=nowhere), "csn-python", tiny_data), base_url="http://localhost")
    answer = app.get("/api/search", params={"q": "read csv"})
    assert answer.status_code == 503
    assert answer.json()["error"].startswith(
        "no node of the Elasticsearch cluster answered (http://127.0.0.1:1, http://127.0.0.1:2, http://127.0.0.1:3: "
    )
