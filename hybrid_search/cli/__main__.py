"""`python -m hybrid_search.cli` is `hybrid`."""

from hybrid_search.cli import main

main()
