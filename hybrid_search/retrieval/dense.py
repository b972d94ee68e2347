"""Dense retrieval: the query encoded by our trained encoder, searched with Elasticsearch kNN (HNSW)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from elasticsearch import Elasticsearch

from hybrid_search import HybridError
from hybrid_search.es.indexing import index_meta
from hybrid_search.es.mappings import VECTOR_FIELD
from hybrid_search.retrieval.base import Hit, hit_from_es, plain_text

PARAMS_FILE = Path(__file__).with_name("dense_params.json")
DEFAULT_NUM_CANDIDATES = 200


def load_num_candidates(path: Path = PARAMS_FILE) -> int:
    """HNSW candidate depth chosen on the valid partition by `hybrid tune dense`."""
    if not path.exists():
        return DEFAULT_NUM_CANDIDATES
    return int(json.loads(path.read_text())["num_candidates"])


def knn_body(
    vector: Sequence[float],
    k: int,
    num_candidates: int,
    filters: list[dict] | None = None,
    source: list[str] | bool = True,
) -> dict:
    """A top-level kNN search request (pure)."""
    knn: dict = {
        "field": VECTOR_FIELD,
        "query_vector": [float(x) for x in vector],
        "k": k,
        "num_candidates": max(num_candidates, k),
    }
    if filters:
        knn["filter"] = filters
    return {"knn": knn, "size": k, "_source": source}


def _model_location(meta: dict) -> str:
    """The model an index was built with: its recorded folder if it still exists, else its name."""
    path = meta.get("encoder_path")
    return path if path and Path(path, "config.json").is_file() else meta["encoder"]


class DenseRetriever:
    """kNN over the `embedding` field, with the encoder that filled it (named in the index's `_meta`).

    Example:
        >>> retriever = DenseRetriever(client, "csn-python")
        >>> hits = retriever.search("read a csv file", k=10)
    """

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        encoder=None,
        num_candidates: int | None = None,
        source: list[str] | bool = True,
    ):
        from hybrid_search.encoder.encoder import Encoder

        meta = index_meta(client, index)
        if "encoder" not in meta:
            raise HybridError(f"index '{index}' has no vectors; build it with `hybrid index --encoder NAME`")
        if encoder is None:
            encoder = Encoder.load(_model_location(meta))
            built_with = meta.get("build", {}).get("encoder", {}).get("weights")
            if built_with and encoder.fingerprint() != built_with:
                raise HybridError(
                    f"the vectors in '{index}' were made by other weights than {encoder.path}'s (retrained?); "
                    f"rebuild with `hybrid index --encoder {encoder.name} --rebuild`"
                )
        if encoder.dims != meta.get("dims"):
            raise HybridError(f"encoder {encoder.name} makes {encoder.dims}-d vectors, index has {meta.get('dims')}")
        self.encoder = encoder
        self.client, self.index, self.source = client, index, source
        self.num_candidates = num_candidates or load_num_candidates()
        self.took_ms = 0  # ES's own time for the last search

    def body(self, text: str, k: int, filters: list[dict] | None = None) -> dict:
        vector = self.encoder.encode_queries([plain_text(text)])[0]
        return knn_body(vector, k, self.num_candidates, filters, self.source)

    def search(self, text: str, k: int = 10, filters: list[dict] | None = None) -> list[Hit]:
        response = self.client.search(index=self.index, **self.body(text, k, filters))
        self.took_ms = response.get("took", 0)
        return [hit_from_es(h) for h in response["hits"]["hits"]]
