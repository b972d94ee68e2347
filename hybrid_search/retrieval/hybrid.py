"""Mode `hybrid`: lexical (BM25) and dense (kNN) candidate lists from Elasticsearch, fused in the client.

ES 8.12's own `rrf` rank is not available on this node (the module that provides it is not shipped in the
trimmed install, and it needs a paid licence), so fusion runs here over ES's two result lists, with the
method, weights and depth chosen on the valid partition (`hybrid tune hybrid`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from elasticsearch import Elasticsearch

from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.base import Hit, hits_of
from hybrid_search.retrieval.dense import DenseRetriever
from hybrid_search.retrieval.lexical import LexicalRetriever

PARAMS_FILE = Path(__file__).with_name("hybrid_params.json")


@dataclass(frozen=True)
class FusionParams:
    method: str = "rrf"  # "rrf" or "linear"
    depth: int = 100  # candidates taken from each list
    weights: tuple[float, float] = (1.0, 1.0)  # (lexical, dense)
    rrf_k: float = 60.0
    norm: str = "minmax"  # linear only

    def fuse(self, lexical: fusion.Run, dense: fusion.Run) -> dict[str, float]:
        if self.method == "rrf":
            return fusion.rrf([lexical, dense], self.weights, k=self.rrf_k)
        return fusion.linear([lexical, dense], self.weights, norm=self.norm)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FusionParams:
        return cls(**{**data, "weights": tuple(data["weights"])})


def load_fusion_params(path: Path = PARAMS_FILE) -> FusionParams:
    return FusionParams.from_dict(json.loads(path.read_text())["params"]) if path.exists() else FusionParams()


class HybridRetriever:
    """Lexical + dense candidates fused.

    Example:
        >>> hits = HybridRetriever(client, "csn-python").search("read a csv file", k=10)
    """

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        params: FusionParams | None = None,
        source: list[str] | bool = True,
        encoder=None,
    ):
        self.params = params or load_fusion_params()
        self.client, self.index = client, index
        self.lexical = LexicalRetriever(client, index, mode="lexical", source=source)
        self.dense = DenseRetriever(client, index, encoder=encoder, source=source)
        self.encoder = self.dense.encoder
        self.took_ms = 0

    def search(self, text: str, k: int = 10, filters: list[dict] | None = None) -> list[Hit]:
        depth = max(self.params.depth, k)
        # One `_msearch` for both lists: one round trip, and ES runs the two searches side by side.
        response = self.client.msearch(
            searches=[
                {"index": self.index},
                self.lexical.body(text, depth, filters),
                {"index": self.index},
                self.dense.body(text, depth, filters),
            ]
        )
        lexical, dense = (hits_of(item, self.index) for item in response["responses"])
        self.took_ms = response.get("took", 0)
        by_id = {h.doc_id: h for h in (*dense, *lexical)}
        fused = self.params.fuse({h.doc_id: h.score for h in lexical}, {h.doc_id: h.score for h in dense})
        return [Hit(doc_id, by_id[doc_id].url, score, by_id[doc_id].source) for doc_id, score in fusion.top(fused, k)]
