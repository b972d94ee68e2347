"""The one table of retrieval modes: the class and parameters of each, what it needs, and the default.

Adding a mode is one row here and one class that keeps the contract of `retrieval/base.py` (`Retriever`):
`from_index(opened)` builds it from an opened index, `available(index, paths=...)` says whether what it needs
beyond the index is there (a re-ranker's model), and `reproducible()` gives the variant whose rankings depend
only on the index and the query (for evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrid_search.retrieval.params import DenseParams, FusionParams, LexicalParams, Params, RerankParams


@dataclass(frozen=True)
class Mode:
    name: str
    retriever: str  # "module:Class", imported on demand (the dense modes pull in torch)
    params: type[Params]
    needs_vectors: bool = False
    needs_reranker: bool = False


TABLE = (
    Mode("baseline", "hybrid_search.retrieval.lexical:BaselineRetriever", Params),
    Mode("lexical", "hybrid_search.retrieval.lexical:LexicalRetriever", LexicalParams),
    Mode("dense", "hybrid_search.retrieval.dense:DenseRetriever", DenseParams, needs_vectors=True),
    Mode("hybrid", "hybrid_search.retrieval.hybrid:HybridRetriever", FusionParams, needs_vectors=True),
    Mode("rerank", "hybrid_search.retrieval.rerank:RerankRetriever", RerankParams, True, needs_reranker=True),
)
MODES = tuple(mode.name for mode in TABLE)
BY_NAME = {mode.name: mode for mode in TABLE}

# The default where none is asked for (CLI, page, API), the first the index supports. On the corpus hybrid has
# the best NDCG per millisecond (rerank adds ~0.01 NDCG Within for ~10x the latency).
DEFAULT_ORDER = ("hybrid", "lexical", "baseline", "dense", "rerank")
# On a codebase index (`hybrid index --source`), chosen on semble-dev (docs/codebase.md): lexical, whose mean
# NDCG@10 (0.925) neither fusion with the nbow vectors (hybrid 0.913) nor re-ranking (rerank 0.918) reached.
CODEBASE_DEFAULT_ORDER = ("lexical", "hybrid", "baseline", "dense", "rerank")


def params_of(mode: str) -> type[Params]:
    return BY_NAME[mode].params
