"""`hybrid serve`'s app: the JSON API and the page, against the real node (FastAPI's TestClient, no server)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from helpers import make_function, write_jsonl_gz

from hybrid_search.config import EsSettings
from hybrid_search.evaluation.ndcg import query_ndcg
from hybrid_search.pipeline.build import build_index
from hybrid_search.web.app import create_app

NOWHERE = "http://127.0.0.1:1"  # nothing listens there: Elasticsearch is really down for the app


@pytest.fixture(scope="module")
def api(es_settings, tiny_vector_index):
    alias, data = tiny_vector_index
    return TestClient(create_app(es_settings, alias, data), base_url="http://localhost")


def search(api, **params):
    response = api.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_lexical_search_returns_ranked_functions_with_matched_terms(api):
    found = search(api, q="read a csv file", mode="lexical", k=3)
    assert found["mode"] == "lexical" and found["k"] == 3 and len(found["results"]) == 3
    top = found["results"][0]
    assert top["rank"] == 1 and top["func_name"] == "read_csv_file"
    assert top["repo"] == "acme/tools" and top["path"] == "src/mod0.py"
    assert top["url"].startswith("https://github.com/acme/tools/blob/") and "def read_csv_file" in top["code"]
    assert {"read", "csv", "file"} <= set(top["matched_terms"])
    scores = [r["score"] for r in found["results"]]
    assert scores == sorted(scores, reverse=True) and found["wall_ms"] > 0 and 0 <= found["es_ms"] <= found["wall_ms"]


def test_default_mode_is_hybrid_when_the_index_has_vectors(api):
    found = search(api, q="priority queue")
    assert found["mode"] == "hybrid"
    assert found["results"][0]["func_name"] == "PriorityQueue.push"
    for mode in ("baseline", "dense"):
        assert search(api, q="priority queue", mode=mode)["mode"] == mode


def test_annotated_query_shows_grades_and_csn_ndcg(api, tiny_vector_index):
    found = search(api, q="  READ csv File ", mode="lexical", k=6)  # matched as CSN does: case-insensitive
    assert found["annotated"] is True
    grades = {r["func_name"]: r["grade"] for r in found["results"]}
    assert grades["read_csv_file"] == 3.0 and grades["parseJsonConfig"] == 1.0
    assert grades["download_url"] is None  # "a file" in its docstring: shown but not graded for this query
    urls = [r["url"] for r in found["results"]]
    relevance = {r["url"]: r["grade"] for r in found["results"] if r["grade"] is not None}
    assert found["ndcg_within"] == pytest.approx(query_ndcg(urls, relevance, within=True))
    assert found["ndcg_all"] == pytest.approx(query_ndcg(urls, relevance, within=False))
    assert found["ndcg_within"] == 1.0  # the grade-3 function first, then the grade-1 one


def test_query_that_is_not_annotated_has_no_grades(api):
    found = search(api, q="download a url", mode="lexical")
    assert found["annotated"] is False and found["ndcg_within"] is None and found["ndcg_all"] is None
    assert all(r["grade"] is None for r in found["results"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "q: Field required"),
        ({"q": ""}, "q: String should have at least 1 character"),
        ({"q": "   "}, "q: the query is empty"),
        ({"q": "x" * 1001}, "q: String should have at most 1000 characters"),
        ({"q": "csv", "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"q": "csv", "k": 101}, "k: Input should be less than or equal to 100"),
        ({"q": "csv", "k": "many"}, "k: Input should be a valid integer, unable to parse string as an integer"),
        ({"q": "csv", "mode": "magic"}, "mode: Input should be 'baseline', 'lexical', 'dense', 'hybrid' or 'rerank'"),
    ],
)
def test_invalid_parameters_are_422_with_a_clear_json_error(api, params, message):
    response = api.get("/api/search", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == message


def test_start_up_loads_every_mode_before_the_first_request(es_settings, tiny_vector_index, paths):
    alias, data = tiny_vector_index
    app = create_app(es_settings, alias, data, paths=paths)
    service = app.state.service
    assert service.loaded() == {}  # nothing is loaded while the app is only created
    with TestClient(app, base_url="http://localhost") as client:  # runs the start-up, as uvicorn does
        loaded = service.loaded()
        assert set(loaded) == {"baseline", "lexical", "dense", "hybrid"} == set(service.modes())
        assert loaded["dense"].encoder.dims == loaded["hybrid"].encoder.dims == 32  # the tiny encoder's weights
        assert search(client, q="priority queue", mode="dense")["results"]
        assert service.loaded()["dense"] is loaded["dense"]  # the first request used what start-up loaded


def test_start_up_with_elasticsearch_down_still_serves_the_503(tiny_data):
    with TestClient(
        create_app(EsSettings(url=NOWHERE), "csn-python", tiny_data), base_url="http://localhost"
    ) as client:
        assert client.app.state.service.loaded() == {}
        response = client.get("/api/search", params={"q": "read csv"})
        assert response.status_code == 503 and NOWHERE in response.json()["error"]


def test_mode_the_index_cannot_run_is_400(es, es_settings, index_name, tiny_data):
    build_index(es, tiny_data, index_name, progress=False)  # no vectors: no dense, hybrid or rerank
    api = TestClient(create_app(es_settings, index_name, tiny_data), base_url="http://localhost")
    response = api.get("/api/search", params={"q": "csv", "mode": "dense"})
    assert response.status_code == 400
    assert response.json() == {
        "error": f"mode 'dense' is not available on '{index_name}'; available: baseline, lexical"
    }
    assert search(api, q="csv")["mode"] == "lexical"  # the best mode it has


def test_elasticsearch_down_is_503_on_the_api_and_a_message_on_the_page(tiny_data):
    app = TestClient(create_app(EsSettings(url=NOWHERE), "csn-python", tiny_data), base_url="http://localhost")
    response = app.get("/api/search", params={"q": "read csv"})
    assert response.status_code == 503
    assert response.json()["error"].startswith(f"Elasticsearch is not reachable at {NOWHERE}")
    page = app.get("/", params={"q": "read csv"})
    assert page.status_code == 503
    assert f"Elasticsearch is not reachable at {NOWHERE}" in page.text and "hybrid es up" in page.text


def test_missing_index_is_503_with_how_to_build_it(es_settings, index_name, tiny_data):
    app = TestClient(create_app(es_settings, index_name, tiny_data), base_url="http://localhost")
    response = app.get("/api/search", params={"q": "read csv"})
    assert response.status_code == 503
    assert response.json() == {
        "error": f"index or alias '{index_name}' not found at {es_settings.url}; build it with `hybrid index`"
    }


def test_openapi_schema_documents_the_search_api(api):
    schema = api.get("/openapi.json").json()
    operation = schema["paths"]["/api/search"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["q"]["maxLength"] == 1000 and params["q"]["minLength"] == 1
    assert params["k"]["minimum"] == 1 and params["k"]["maximum"] == 100
    assert set(operation["responses"]) == {"200", "400", "422", "429", "503"}
    result = schema["components"]["schemas"]["ResultOut"]["properties"]
    assert {"func_name", "repo", "path", "url", "score", "grade", "matched_terms", "code"} <= set(result)


def test_page_shows_results_grades_ndcg_and_only_available_modes(api):
    page = api.get("/", params={"q": "read csv file", "mode": "lexical"})
    assert page.status_code == 200
    html = page.text
    assert html.count('<li class="result">') == 3  # lexical finds only the 3 that share a word
    assert '<span class="name"><mark>read</mark>_<mark>csv</mark>_<mark>file</mark></span>' in html
    assert 'href="https://github.com/acme/tools/blob/' in html and ">acme/tools/src/mod0.py:1</a>" in html
    assert "grade 3" in html and "grade 1" in html and "not graded" in html
    assert "NDCG of these 3 results, CSN's <em>Within</em> variant" in html and "<strong>1.000</strong>" in html
    assert '<span class="k">def</span>' in html  # pygments' classes on the code
    options = [m for m in ("baseline", "lexical", "dense", "hybrid") if f'<option value="{m}"' in html]
    assert options == ["baseline", "lexical", "dense", "hybrid"]
    assert '<option value="lexical" selected>' in html


def test_page_escapes_the_query(api):
    attack = '"><script>alert(1)</script> csv'
    page = api.get("/", params={"q": attack, "mode": "lexical"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_page_reports_invalid_input_on_the_page(api):
    page = api.get("/", params={"q": "csv", "k": "500"})
    assert page.status_code == 422 and "k: must be between 1 and 100, got 500" in page.text
    assert api.get("/").status_code == 200  # no query yet: just the form


def test_hybrid_serve_command_serves_the_api(es_settings, tiny_vector_index):
    """The real command in its own process: `hybrid serve` on a free port answers the API."""
    alias, data = tiny_vector_index
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "hybrid_search.cli", "--es-url", es_settings.url, "--index", alias]
    server = subprocess.Popen([*command, "serve", "--port", str(port), "--data", str(data)], stderr=subprocess.PIPE)
    try:
        found = wait_for_json(f"http://127.0.0.1:{port}/api/search?q=read+csv+file&mode=lexical", server)
        assert found["results"][0]["func_name"] == "read_csv_file" and found["annotated"] is True
    finally:
        server.terminate()
        server.wait(10)


def wait_for_json(url: str, server: subprocess.Popen, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"hybrid serve exited: {server.stderr.read().decode()}"
        try:
            return httpx.get(url, timeout=10).raise_for_status().json()
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"hybrid serve did not answer {url} within {timeout_s}s")


def test_only_http_and_local_file_urls_become_links_and_the_page_sets_a_csp(es, es_settings, index_name, tmp_path):
    """A corpus is data from elsewhere: a `javascript:` url must not become a clickable link (stored XSS)."""
    hostile = [
        "javascript:alert(document.domain)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "https:javascript:alert(1)",
    ]
    safe = ["https://github.com/acme/tools/blob/b/a.py#L1-L2", "file:///srv/checkout/src/mod.py#L1-L6"]
    records = [
        {**make_function(i, f"csv_reader_{i}", "Read a csv file.", "return 1\nreturn 2"), "url": url}
        for i, url in enumerate([*hostile, *safe])
    ]
    write_jsonl_gz(tmp_path / "corpus" / "a.jsonl.gz", records)
    build_index(es, tmp_path, index_name, progress=False)
    page = TestClient(create_app(es_settings, index_name, tmp_path), base_url="http://localhost").get(
        "/", params={"q": "csv reader", "mode": "lexical", "k": 20}
    )
    assert page.status_code == 200 and page.text.count('<li class="result">') == len(records)
    links = re.findall(r'<a href="([^"]*)"', page.text.split("<main>")[1])
    assert sorted(links) == sorted(safe)
    assert "javascript" not in " ".join(re.findall(r'(?:href|src|action)="([^"]*)"', page.text)).lower()
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert not re.search(r"<[^>]*\son\w+\s*=", page.text)  # no inline event handler: the policy forbids them
