"""Building the Elasticsearch client from settings, and turning connection failures into one clear line."""

from __future__ import annotations

from pathlib import Path

from elasticsearch import ApiError, Elasticsearch, TransportError

from hybrid_search import HybridError
from hybrid_search.config import EsSettings
from hybrid_search.es.errors import as_hybrid_error


def connect(
    settings: EsSettings,
    request_timeout: float = 60.0,
    check: bool = True,
    max_retries: int = 3,
    retry_on_timeout: bool | None = None,
) -> Elasticsearch:
    """A client for `settings`; with `check`, fail fast with a readable error if the cluster is not reachable.

    With several URLs (`settings.urls`) requests go round-robin over the nodes; one that fails to connect is
    marked dead for a while and the request is retried on another (elastic-transport's node pool).
    `max_retries`: retries of a request that failed to connect or timed out (each waits `request_timeout`);
    `retry_on_timeout` False retries only connections refused or cut, never a node that did not answer in time.
    """
    options: dict = {
        "request_timeout": request_timeout,
        "retry_on_timeout": max_retries > 0 if retry_on_timeout is None else retry_on_timeout,
        "max_retries": max_retries,
    }
    if settings.api_key:
        options["api_key"] = settings.api_key
    elif settings.username:
        options["basic_auth"] = (settings.username, settings.password or "")
    if settings.ca_certs:
        if not Path(settings.ca_certs).is_file():
            raise HybridError(f"CA certificate file not found: {settings.ca_certs} (HYBRID_ES_CA_CERTS)")
        options["ca_certs"] = settings.ca_certs
    if any(url.startswith("https:") for url in settings.urls):
        options["verify_certs"] = True  # the client's default too; stated so that no default can turn it off
    client = Elasticsearch(settings.urls, **options)
    if check:
        ensure_reachable(client, settings.url)
    return client


def ensure_reachable(client: Elasticsearch, url: str) -> dict:
    try:
        return client.info()
    except (TransportError, ApiError) as exc:
        raise as_hybrid_error(exc, url) from None
