"""Benchmark harness behind `scripts/bench.py`: build cost, memory, latency, throughput and peers at corpus scales.

Not part of the `hybrid_search` package (nor of its wheel): it measures the package from outside, through
the same entry points users have (`build_index`, `make_retriever` and the retriever contract).

    harness.py   the run: nested samples, builds, queries through every mode and the peers, derived figures
    sample.py    nested samples of the corpus and the valid docstring query workload
    peers.py     bm25s and exact numpy search, behind the retriever contract
    system.py    the machine, the node's memory, an index's size
    report.py    docs/benchmarks.json and docs/benchmarks.md
"""

from benchmarks.harness import BenchConfig, run_bench
from benchmarks.report import markdown, write_results

__all__ = ["BenchConfig", "markdown", "run_bench", "write_results"]
