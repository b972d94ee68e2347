"""Mode `hybrid`: lexical (BM25) and dense (kNN) candidate lists from Elasticsearch, fused in the client.

ES 8.12's own `rrf` rank is not available on this node (the module that provides it is not shipped in the
trimmed install, and it needs a paid licence), so fusion runs here over ES's two result lists, with the
method, weights and depth chosen on the valid partition (`hybrid tune hybrid`).
"""

from __future__ import annotations

from hybrid_search.es.queries import msearch_lines
from hybrid_search.es.search import msearch
from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.base import Hit, OneAtATime, OpenedIndex, Ranking, Timer, hits_of
from hybrid_search.retrieval.dense import DenseRetriever
from hybrid_search.retrieval.lexical import LexicalRetriever
from hybrid_search.retrieval.params import FusionParams


class HybridRetriever(OneAtATime):
    """Lexical + dense candidates fused.

    Example:
        >>> hybrid = HybridRetriever(LexicalRetriever(client, "csn-python"), DenseRetriever(..., encoder=nbow))
        >>> hybrid.search("read a csv file", k=10).hits
    """

    mode = "hybrid"

    def __init__(self, lexical: LexicalRetriever, dense: DenseRetriever, *, params: FusionParams | None = None):
        self.lexical, self.dense = lexical, dense
        self.client, self.index, self.encoder = lexical.client, lexical.index, dense.encoder
        self.params = params or FusionParams()

    @classmethod
    def from_index(cls, opened: OpenedIndex):
        lexical, dense = LexicalRetriever.from_index(opened), DenseRetriever.from_index(opened)
        params = opened.choice(cls.mode).params
        if lexical.codebase is not None:  # the weights chosen for codebases (retrieval/codebase.py)
            codebase = lexical.codebase
            params = FusionParams(method="linear", norm="zscore", weights=codebase.fusion_weights, depth=codebase.depth)
        return cls(lexical, dense, params=params)

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        depth = max(self.params.depth, k)
        with Timer() as timer:
            # One `_msearch` for both lists: one round trip, and ES runs the two searches side by side.
            bodies = [
                self.lexical.body(text, k=depth, filters=filters),
                self.dense.body(text, k=depth, filters=filters),
            ]
            response = msearch(self.client, msearch_lines(self.index, bodies, self.lexical.search_type))
            lexical, dense = (hits_of(item, self.index) for item in response["responses"])
            by_id = {h.doc_id: h for h in (*dense, *lexical)}
            fused = self.params.fuse({h.doc_id: h.score for h in lexical}, {h.doc_id: h.score for h in dense})
            ranked = [Hit(d, by_id[d].url, score, by_id[d].source) for d, score in fusion.top(fused, depth)]
        stages = {"lexical": lexical, "dense": dense, "fused": ranked}
        return Ranking(ranked[:k], es_ms=response["took"], wall_ms=timer.ms, stages=stages)

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "index": self.index,
            "encoder": self.encoder.name,
            "params": self.params.to_dict(),
            "lexical": self.lexical.params.to_dict(),
            "dense": self.dense.params.to_dict(),
        }
