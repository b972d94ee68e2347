"""One wording for Elasticsearch failures, shared by the CLI, the web page and the client."""

from __future__ import annotations

from elasticsearch import ApiError, ConnectionTimeout, NotFoundError, SSLError, TransportError

from hybrid_search import HybridError


def describe_es_error(exc: Exception, url: str, index: str | None = None, *, midway: bool = False) -> str | None:
    """One readable line for an Elasticsearch failure, or None if `exc` is not one.

    The URL is named (never credentials: settings refuse URLs that hold them); a missing index names the
    command that builds it; `midway`: the cluster answered before, so the connection was lost.
    """
    if isinstance(exc, SSLError):
        return (
            f"TLS with {url} failed: its certificate could not be verified (or it does not speak https); point "
            "HYBRID_ES_CA_CERTS (or ca_certs in the config file) at the CA certificate that signed it"
        )
    if isinstance(exc, TransportError) and midway:
        return (
            f"lost the connection to Elasticsearch at {url} ({type(exc).__name__}); is it running? try `hybrid es up`"
        )
    if isinstance(exc, ConnectionTimeout) and "," in url:  # a timeout is not retried: other nodes may be fine
        return (
            f"a node of the Elasticsearch cluster ({url.replace(',', ', ')}) did not answer in time (ConnectionTimeout)"
        )
    if isinstance(exc, TransportError) and "," in url:  # a cluster: the request was tried on its other nodes
        return (
            f"no node of the Elasticsearch cluster answered ({url.replace(',', ', ')}: {type(exc).__name__}); "
            "start it with `hybrid es up --nodes N` or set --es-url / HYBRID_ES_URL"
        )
    if isinstance(exc, TransportError):
        return (
            f"Elasticsearch is not reachable at {url} ({type(exc).__name__}); "
            "start a local node with `hybrid es up` or set --es-url / HYBRID_ES_URL"
        )
    if isinstance(exc, NotFoundError) and index:
        return f"index or alias '{index}' not found at {url}; build it with `hybrid index`"
    if isinstance(exc, ApiError):
        return f"Elasticsearch at {url} refused the request: {exc.meta.status} {exc.message}"
    return None


def as_hybrid_error(exc: Exception, url: str, index: str | None = None) -> HybridError:
    """`exc` as a HybridError with its one-line description (itself if it already is one)."""
    if isinstance(exc, HybridError):
        return exc
    return HybridError(describe_es_error(exc, url, index) or f"{type(exc).__name__}: {exc}")
