"""Dense retrieval: the query encoded by our trained encoder, searched with Elasticsearch kNN (HNSW)."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from hybrid_search import HybridError
from hybrid_search.encoder import TextEncoder
from hybrid_search.es.queries import SEARCH_OPTIONS, Source, exact_vector_search, knn_search
from hybrid_search.es.search import retrying_search
from hybrid_search.retrieval.base import OneAtATime, OpenedIndex, Ranking, Timer, hits_of, plain_text
from hybrid_search.retrieval.codebase import CodebaseParams, is_codebase
from hybrid_search.retrieval.params import DenseParams


def index_encoder(meta: dict, index: str, *, models) -> TextEncoder:
    """The encoder that made the index's vectors (named in its `_meta`, reading docstrings if they were made
    so), refused if retrained since."""
    from hybrid_search.encoder.folders import reads_docstring_of
    from hybrid_search.encoder.resolve import load_encoder

    if "encoder" not in meta:
        raise HybridError(f"index '{index}' has no vectors; build it with `hybrid index --encoder NAME`")
    recorded = meta.get("encoder_path")
    encoder = load_encoder(recorded if recorded and _is_model(recorded) else meta["encoder"], models=models)
    built_with = meta.get("build", {}).get("encoder", {}).get("weights")
    if built_with:
        encoder = encoder.reading_docstrings(reads_docstring_of(built_with))
    if built_with and encoder.fingerprint() != built_with:
        raise HybridError(
            f"the vectors in '{index}' were made by other weights than {encoder.path}'s (retrained?); "
            f"rebuild with `hybrid index --encoder {encoder.name} --rebuild`"
        )
    if encoder.dims != meta.get("dims"):
        raise HybridError(f"encoder {encoder.name} makes {encoder.dims}-d vectors, index has {meta.get('dims')}")
    return encoder


def _is_model(path: str) -> bool:
    from pathlib import Path

    return Path(path, "config.json").is_file()


class DenseRetriever(OneAtATime):
    """kNN over the vector field, with the encoder that filled it.

    Example:
        >>> retriever = DenseRetriever(client, "csn-python", encoder=Encoder.load("nbow"))
        >>> retriever.search("read a csv file", k=10).hits
    """

    mode = "dense"

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        *,
        encoder: TextEncoder,
        params: DenseParams | None = None,
        source: Source = True,
        codebase: CodebaseParams | None = None,
    ):
        self.client, self.index, self.source, self.encoder = client, index, source, encoder
        self.params = params or DenseParams()
        self.codebase = codebase  # set for an index of a codebase: exact scores, weighted by role

    @classmethod
    def from_index(cls, opened: OpenedIndex):
        encoder = index_encoder(opened.meta, opened.index, models=opened.paths.models)
        return cls(
            opened.client,
            opened.index,
            encoder=encoder,
            params=opened.choice(cls.mode).params,
            source=opened.source,
            codebase=CodebaseParams() if is_codebase(opened.meta) else None,
        )

    def body(self, text: str, *, k: int, filters: list[dict] | None = None) -> dict:
        text = plain_text(text)
        if self.params.drop_web_words:
            from hybrid_search.retrieval.query import without_web_words

            text = without_web_words(text)
        vector = self.encoder.encode_queries([text])[0]
        if self.codebase is not None:
            roles = self.codebase.role_weights
            return exact_vector_search(vector, role_weights=roles, size=k, source=self.source, filters=filters)
        return knn_search(vector, k=k, num_candidates=self.params.num_candidates, source=self.source, filters=filters)

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        with Timer() as timer:
            # No search type: ES picks kNN's own (its first phase gathers the k best of every shard).
            response = retrying_search(
                self.client, index=self.index, **self.body(text, k=k, filters=filters), **SEARCH_OPTIONS
            )
        return Ranking(hits_of(response.body, self.index), es_ms=response["took"], wall_ms=timer.ms)

    def describe(self) -> dict:
        return {"mode": self.mode, "index": self.index, "encoder": self.encoder.name, "params": self.params.to_dict()}
