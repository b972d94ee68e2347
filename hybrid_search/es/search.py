"""Searching with a second try: `_msearch` and `_search` sent again while Elasticsearch answers a server-side
error (a shard whose copies are moving while a node left, a master being elected)."""

from __future__ import annotations

import time

from elasticsearch import ApiError


def msearch(client, searches: list[dict], attempts: int = 3, backoff_s: float = 0.25) -> dict:
    """`_msearch` that sends the request again (after 0.25 s, then 0.5 s) while any item failed with a
    server-side status (a shard whose copies are moving while a node left, a master being elected).

    The client retries a whole request that failed on another node, but an `_msearch` answers 200 with its
    items' errors inside, which it cannot see. Request errors (4xx) are not retried: `hits_of` reports them.
    """
    response = client.msearch(searches=searches)
    for attempt in range(attempts - 1):
        if not any(item.get("status", 200) >= 500 for item in response["responses"]):
            break
        time.sleep(backoff_s * 2**attempt)
        response = client.msearch(searches=searches)
    return response


def retrying_search(client, attempts: int = 3, backoff_s: float = 0.25, **request):
    """`_search` that sends the request again (after 0.25 s, then 0.5 s) when Elasticsearch answered with a
    server-side status (5xx), as `msearch` does for its items.

    The client already retries 429/502/503/504 on another node, but a node that leaves between a search's
    phases (kNN's first phase picks the shard copies the later ones must use) fails the whole search with
    500 `search_phase_execution_exception ... disconnected`; asked again, it runs on the copies left.
    """
    for attempt in range(attempts - 1):
        try:
            return client.search(**request)
        except ApiError as exc:
            if exc.meta.status < 500:
                raise
        time.sleep(backoff_s * 2**attempt)
    return client.search(**request)
