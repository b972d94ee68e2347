"""Retrieval modes over the index. Each returns ranked `Hit`s for a query text."""

from hybrid_search.retrieval.base import MODES, Hit
from hybrid_search.retrieval.lexical import LexicalRetriever, load_lexical_params

__all__ = ["MODES", "Hit", "LexicalRetriever", "load_lexical_params"]
