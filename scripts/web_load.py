"""Concurrent load on a running `hybrid serve`: N requests at once, each with its own query (cold caches).

Usage: python scripts/web_load.py [--url http://127.0.0.1:8000] [--mode hybrid] [--concurrency 50]
       [--rounds 1] [--pid PID]
Prints the status codes, client-side p50 / p95 / max, requests per second over the whole burst and, with
`--pid` (the server's), its peak resident memory (VmHWM) after the burst. Queries are the annotated ones,
then the same with a numbered suffix, so that no two requests of a burst share a query.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from hybrid_search.config import default_data_dir
from hybrid_search.data.annotations import load_queries
from hybrid_search.evaluation.stats import latency_percentiles


def timed(client: httpx.Client, params: dict) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        status = client.get("/api/search", params=params).status_code
    except httpx.TimeoutException:
        status = 0  # no answer within the client's timeout
    return status, (time.perf_counter() - started) * 1000


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--pid", type=int, default=None)
    args = parser.parse_args()
    base = list(dict.fromkeys(load_queries(default_data_dir() / "queries.csv")))
    n = args.concurrency * args.rounds
    queries = [base[i % len(base)] + (f" {i}" if i >= len(base) else "") for i in range(n)]
    limits = httpx.Limits(max_connections=args.concurrency)
    with httpx.Client(base_url=args.url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            params = [{"q": q, "mode": args.mode, "k": args.k} for q in queries]
            answers = list(pool.map(lambda p: timed(client, p), params))
        wall = time.perf_counter() - started
    ok = [ms for status, ms in answers if status == 200]
    stats = latency_percentiles([ms for _, ms in answers])
    line = (
        f"{args.mode}, {n} requests, {args.concurrency} at once: statuses {dict(Counter(s for s, _ in answers))}, "
        f"p50 {stats['p50']:.0f} ms, p95 {stats['p95']:.0f} ms, max {max(ms for _, ms in answers):.0f} ms, "
        f"{len(ok) / wall:.1f} answered requests/s ({n / wall:.1f} requests/s)"
    )
    if args.pid:
        line += f", server peak RSS {peak_rss_mb(args.pid):,.0f} MB"
    print(line)


if __name__ == "__main__":
    main()
