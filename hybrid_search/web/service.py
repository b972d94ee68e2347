"""One search as the web page and the API show it: ranked hits, their sources and matched terms, and, for an
annotated CodeSearchNet query, each hit's human grade and the NDCG of the shown ranking.

Retrievers are built once per mode and kept (the dense encoder and the re-ranker load their weights then);
`warm_up` builds them all when the app starts, so that no user's first query waits for a model to load;
errors come out as two kinds the app maps to HTTP statuses: the request is wrong (400, 422) or the service
cannot answer it now (503: Elasticsearch down, index missing or unusable).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from elasticsearch import ApiError, TransportError

from hybrid_search import HybridError
from hybrid_search.config import EsSettings, Paths
from hybrid_search.data.annotations import Qrels, load_qrels
from hybrid_search.es.client import connect
from hybrid_search.es.errors import describe_es_error
from hybrid_search.es.queries import display_search
from hybrid_search.es.search import retrying_search
from hybrid_search.evaluation.ndcg import query_ndcg
from hybrid_search.retrieval import default_mode, index_modes, make_retriever
from hybrid_search.retrieval.base import MAX_QUERY_CHARS, Hit, visible_query
from hybrid_search.web.highlight import matched_terms

MAX_K = 100
DISPLAY_FIELDS = ["url", "repo", "path", "start_line", "func_name", "docstring", "code"]
MODES_TTL_S = 30.0  # how long the list of available modes is trusted (the alias may move to a new build)
# A page waits at most this long for Elasticsearch, once (a timeout is never retried): the full corpus answers in
# well under a second, and a hung cluster must not hold a request (and its worker) for the client's 4 x 10 s.
# A connection refused or cut is retried at once on the cluster's other nodes (`page_retries`).
ES_TIMEOUT_S = 5.0
CIRCUIT_COOLDOWN_S = 5.0  # how long a cluster found down is answered 503 at once before the next try
WARM_UP_QUERY = "read a csv file"  # searched once per mode at start-up: loads spaCy, torch kernels, caches

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """The request cannot be answered as asked (HTTP 400)."""

    status = 400


class InvalidParameter(BadRequest):
    """A parameter fails validation (HTTP 422, as FastAPI's own validation)."""

    status = 422


class Unavailable(Exception):
    """Search cannot run now: Elasticsearch unreachable, index missing or unusable (HTTP 503)."""


class Refused(Unavailable):
    """Elasticsearch answered, refusing the request (the index changed under the service, or is unusable)."""


@dataclass(frozen=True)
class Result:
    rank: int
    hit: Hit
    source: dict
    terms: frozenset[str]
    grade: float | None  # mean human relevance 0-3, when the query is annotated and the url graded


@dataclass(frozen=True)
class Outcome:
    query: str
    mode: str
    k: int
    index: str
    results: list[Result]
    wall_ms: float  # the whole search and the fetch of what is shown
    es_ms: float  # Elasticsearch's own time for the mode's search requests
    annotated: bool
    ndcg_within: float | None  # NDCG of the shown ranking, CSN's "Within" (unannotated urls skipped)
    ndcg_all: float | None  # CSN's "All" (unannotated urls count as zero-gain ranks)


def load_optional_qrels(data_dir: Path | None) -> Qrels:
    """The human grades of the data folder, or none: the page works without them."""
    path = data_dir / "annotationStore.csv" if data_dir else None
    return load_qrels(path) if path and path.is_file() else {}


def clean_query(text: str) -> str:
    """`visible_query`, refused as the API's invalid parameter `q`."""
    try:
        return visible_query(text, MAX_QUERY_CHARS)
    except HybridError as exc:
        raise InvalidParameter(f"q: {exc}") from None


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise InvalidParameter(f"k: must be between 1 and {MAX_K}, got {k}")
    return k


def page_retries(nodes: int) -> int:
    """Retries of a page's request that could not connect: each other node, twice (a node marked dead comes back
    to the pool after a second and may be picked again before the last healthy one); none with a single node.
    A failure left after them means no node answered, and only then does the circuit open."""
    return 2 * (nodes - 1)


class Circuit:
    """Answers at once while the cluster is known down, instead of every request waiting out its timeout.

    Opened by a connection failure or timeout (not by a refused request: the cluster answered that). After
    `cooldown_s` one request tries the cluster again while the others keep failing fast; its success closes it.
    """

    def __init__(self, cooldown_s: float = CIRCUIT_COOLDOWN_S):
        self.cooldown_s = cooldown_s
        self._lock = threading.Lock()
        self._reason: str | None = None  # None: closed
        self._next_try = 0.0

    def refusal(self) -> str | None:
        """What to answer at once while the cluster is known down and no try is due; None otherwise."""
        with self._lock:
            wait = self._next_try - time.monotonic()
            if self._reason is None or wait <= 0:
                return None
            return f"{self._reason} (known down; next try in {max(wait, 1):.0f} s)"

    def check(self) -> None:
        """Raise `Unavailable` as `refusal` says; else let this request reach the cluster (as the try, if due)."""
        with self._lock:
            if self._reason is None:
                return
            wait = self._next_try - time.monotonic()
            if wait > 0:
                raise Unavailable(f"{self._reason} (known down; next try in {max(wait, 1):.0f} s)")
            self._next_try = time.monotonic() + self.cooldown_s  # this request is the try

    def failed(self, reason: str) -> None:
        with self._lock:
            self._reason, self._next_try = reason, time.monotonic() + self.cooldown_s

    def succeeded(self) -> None:
        with self._lock:
            self._reason = None


class SearchService:
    def __init__(self, settings: EsSettings, index: str, data_dir: Path | None, paths: Paths):
        self.settings, self.index, self.paths = settings, index, paths
        # No check at start: the app must come up (and say so on the page) while Elasticsearch is down.
        self.client = connect(
            settings,
            request_timeout=ES_TIMEOUT_S,
            check=False,
            max_retries=page_retries(len(settings.urls)),
            retry_on_timeout=False,
        )
        self.qrels = load_optional_qrels(data_dir)
        self.circuit = Circuit()
        self._retrievers: dict[str, object] = {}
        self._modes: tuple[float, list[str]] | None = None
        self._codebase = False  # an index of a source folder: its own default mode
        self._lock = threading.Lock()

    @contextmanager
    def _es_errors(self) -> Iterator[None]:
        """Elasticsearch and set-up failures as one readable `Unavailable` line; the circuit first."""
        self.circuit.check()
        try:
            yield
        except TransportError as exc:
            message = describe_es_error(exc, self.settings.url, self.index)
            self.circuit.failed(message)
            raise Unavailable(message) from None
        except ApiError as exc:
            raise Refused(describe_es_error(exc, self.settings.url, self.index)) from None
        except HybridError as exc:
            raise Unavailable(str(exc)) from None
        self.circuit.succeeded()

    def modes(self) -> list[str]:
        """Modes the index supports now (re-checked every MODES_TTL_S seconds)."""
        if self._modes and time.monotonic() - self._modes[0] < MODES_TTL_S:
            return self._modes[1]
        with self._es_errors():
            modes, self._codebase = index_modes(self.client, self.index, paths=self.paths)
        self._modes = (time.monotonic(), modes)
        return modes

    def default_mode(self) -> str:
        modes = self.modes()
        return default_mode(modes, codebase=self._codebase)

    def _retriever(self, mode: str):
        with self._lock, self._es_errors():
            if mode not in self._retrievers:
                # Ranking needs only urls; what is shown is fetched for the top k alone (see `_display`).
                self._retrievers[mode] = make_retriever(self.client, self.index, mode, paths=self.paths, source=["url"])
            return self._retrievers[mode]

    def _forget(self, mode: str) -> None:
        """Drop what was learnt about the index (its modes, the mode's retriever): a failed search may mean the
        alias now points to another version, whose modes are read again."""
        with self._lock:
            self._retrievers.pop(mode, None)
        self._modes = None

    def loaded(self) -> dict[str, object]:
        """mode -> the retriever built for it so far (with its models loaded)."""
        with self._lock:
            return dict(self._retrievers)

    def warm_up(self) -> list[str]:
        """Build every available mode's retriever (loading the encoder and the re-ranker) and search once with
        each, so that the first user query pays for no model load; returns the modes warmed.

        Never fails: the app must start while Elasticsearch is down or the index missing (the page says so,
        and the modes are then loaded by their first search).
        """
        try:
            modes = self.modes()
            for mode in modes:
                self.search(WARM_UP_QUERY, mode, k=1)
        except (Unavailable, BadRequest) as exc:
            log.warning("start-up: models not loaded in advance: %s", exc)
            return []
        return modes

    def _display(self, query: str, hits: list[Hit]) -> dict[str, tuple[dict, frozenset[str]]]:
        """doc id -> (source, matched terms) of the hits, in one request."""
        if not hits:
            return {}
        body = display_search(query, doc_ids=[h.doc_id for h in hits], source=DISPLAY_FIELDS)
        with self._es_errors():
            found = retrying_search(self.client, index=self.index, **body)["hits"]["hits"]
        return {d["_id"]: (d.get("_source", {}), matched_terms(d.get("highlight", {}))) for d in found}

    def search(self, text: str, mode: str | None = None, k: int = 10) -> Outcome:
        query, k = clean_query(text), check_k(k)
        modes = self.modes()
        mode = mode or self.default_mode()
        if mode not in modes:
            raise BadRequest(f"mode '{mode}' is not available on '{self.index}'; available: {', '.join(modes)}")
        started = time.perf_counter()
        retriever = self._retriever(mode)
        try:
            with self._es_errors():
                ranking = retriever.search(query, k=k)
        except Refused:
            self._forget(mode)
            if mode not in self.modes():  # the alias moved to a version without it since the modes were read
                raise BadRequest(
                    f"mode '{mode}' is not available on '{self.index}'; available: {', '.join(self.modes())}"
                ) from None
            raise
        hits = ranking.hits
        shown = self._display(query, hits)
        wall_ms = (time.perf_counter() - started) * 1000
        relevance = self.qrels.get(query.lower(), {})
        results = [
            Result(rank, hit, *shown.get(hit.doc_id, (hit.source, frozenset())), relevance.get(hit.url))
            for rank, hit in enumerate(hits, start=1)
        ]
        urls = [h.url for h in hits]
        return Outcome(
            query=query,
            mode=mode,
            k=k,
            index=self.index,
            results=results,
            wall_ms=wall_ms,
            es_ms=ranking.es_ms,
            annotated=bool(relevance),
            ndcg_within=query_ndcg(urls, relevance, within=True) if relevance else None,
            ndcg_all=query_ndcg(urls, relevance, within=False) if relevance else None,
        )
