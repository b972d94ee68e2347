"""Latency of a running `hybrid serve`: the API and the page, per mode, over the first annotated queries.

Usage: python scripts/web_latency.py [--url http://127.0.0.1:8000] [--queries 20] [--modes lexical,hybrid]
One request at a time, client-side wall time, after one warm-up request per mode (which loads the encoder).
The API and the page get different queries (the first N, the next N), so neither runs on the other's warm caches.
"""

from __future__ import annotations

import argparse
import time

import httpx

from hybrid_search.config import default_data_dir
from hybrid_search.data.annotations import load_queries
from hybrid_search.evaluation.stats import latency_percentiles


def timed_ms(client: httpx.Client, path: str, params: dict) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--modes", default="lexical,hybrid")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    queries = list(dict.fromkeys(load_queries(default_data_dir() / "queries.csv")))[: 2 * args.queries]
    with httpx.Client(base_url=args.url, timeout=30) as client:
        for mode in args.modes.split(","):
            timed_ms(client, "/api/search", {"q": "warm up", "mode": mode, "k": args.k})
            for path, batch in (("/api/search", queries[: args.queries]), ("/", queries[args.queries :])):
                times = [timed_ms(client, path, {"q": q, "mode": mode, "k": args.k}) for q in batch]
                stats = latency_percentiles(times)  # the p50/p95 of `hybrid eval` and the bench
                print(
                    f"{mode:<8} {path:<12} {len(times)} queries, k={args.k}: "
                    f"p50 {stats['p50']:.0f} ms, p95 {stats['p95']:.0f} ms, max {max(times, default=0):.0f} ms"
                )


if __name__ == "__main__":
    main()
