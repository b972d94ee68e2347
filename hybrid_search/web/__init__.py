"""`hybrid serve`: a search page and a JSON API over the same retrievers as the CLI (needs the `web` extra)."""
