"""Retrieval modes over the index. Each returns ranked `Hit`s for a query text."""

from hybrid_search.retrieval.base import Hit, MODES
from hybrid_search.retrieval.lexical import LexicalRetriever, load_lexical_params

__all__ = ["Hit", "MODES", "LexicalRetriever", "load_lexical_params"]
