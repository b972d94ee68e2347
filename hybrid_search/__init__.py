"""hybrid-search: lexical + dense code search for Python functions on Elasticsearch."""

__version__ = "0.1.0"


class HybridError(Exception):
    """An error the CLI reports as one line (no traceback) and a non-zero exit code."""
