"""BM25 retrieval through Elasticsearch: CSN's baseline and our code-aware lexical mode."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from elasticsearch import Elasticsearch

from hybrid_search import HybridError
from hybrid_search.es.queries import LexicalParams, baseline_query, lexical_query, search_body, with_filter
from hybrid_search.retrieval.base import Hit, hits_of, plain_text

PARAMS_FILE = Path(__file__).with_name("lexical_params.json")


def load_lexical_params(path: Path = PARAMS_FILE) -> LexicalParams:
    """Boosts chosen on the valid partition by `hybrid tune` (built-in defaults if never tuned)."""
    if not path.exists():
        return LexicalParams()
    return LexicalParams.from_dict(json.loads(path.read_text())["params"])


class LexicalRetriever:
    """Runs `baseline` or `lexical` queries against one index or alias.

    Example:
        >>> retriever = LexicalRetriever(client, "csn-python", mode="lexical")
        >>> hits = retriever.search("read a csv file", k=10)
    """

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        mode: str = "lexical",
        params: LexicalParams | None = None,
        source: list[str] | bool = True,
    ):
        if mode not in ("baseline", "lexical"):
            raise HybridError(f"unknown lexical mode {mode!r}")
        self.client, self.index, self.mode, self.source = client, index, mode, source
        self.params = params or load_lexical_params()
        self.took_ms = 0  # ES's own time for the last search call (benchmarks compare it with wall time)

    def query(self, text: str, filters: list[dict] | None = None) -> dict:
        if self.mode == "baseline":
            return with_filter(baseline_query(text), filters)
        if not self.params.uses_variants:
            return with_filter(lexical_query(text, self.params), filters)
        from hybrid_search.retrieval.query import query_variants

        variants = query_variants(text)
        return with_filter(lexical_query(text, self.params, variants.lemmas, variants.identifiers), filters)

    def body(self, text: str, k: int, filters: list[dict] | None = None) -> dict:
        return search_body(self.query(plain_text(text), filters), k, self.source)

    def search(self, text: str, k: int = 10, filters: list[dict] | None = None) -> list[Hit]:
        return self.search_many([text], k=k, filters=[filters])[0]

    def search_many(
        self, texts: Sequence[str], k: int = 100, filters: Sequence[list[dict] | None] | None = None, batch: int = 50
    ) -> list[list[Hit]]:
        """One ranked list per text, sent as `_msearch` batches to save round trips."""
        filters = filters or [None] * len(texts)
        results: list[list[Hit]] = []
        self.took_ms = 0
        for start in range(0, len(texts), batch):
            searches: list[dict] = []
            for text, extra in zip(texts[start : start + batch], filters[start : start + batch]):
                searches += [{"index": self.index}, self.body(text, k, extra)]
            response = self.client.msearch(searches=searches)
            for item in response["responses"]:
                results.append(hits_of(item, self.index))
                self.took_ms += item.get("took", 0)
        return results
