"""The `hybrid` command line: one module per command family (registered in `root.py`), each command one call
into the package.

This module imports nothing itself: loading the commands takes about half a second (click, the
Elasticsearch client), and a Ctrl-C then must be one line like a Ctrl-C later, not a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from hybrid_search.cli.root import cli

        cli(prog_name="hybrid")
    except KeyboardInterrupt:  # while loading; once a command runs, HybridGroup reports it
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


def __getattr__(name: str):
    """`from hybrid_search.cli import cli`, loaded on first use (PEP 562)."""
    if name == "cli":
        from hybrid_search.cli.root import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
