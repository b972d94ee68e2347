"""BM25 retrieval through Elasticsearch: CSN's baseline and our code-aware lexical mode."""

from __future__ import annotations

from collections.abc import Sequence

from elasticsearch import Elasticsearch

from hybrid_search.es.layout import search_type_of
from hybrid_search.es.queries import Source, baseline_search, lexical_search, msearch_lines
from hybrid_search.es.search import msearch
from hybrid_search.retrieval.base import ModeDefaults, OpenedIndex, Ranking, Timer, hits_of, plain_text
from hybrid_search.retrieval.codebase import CodebaseParams, codebase_body, is_codebase
from hybrid_search.retrieval.params import LexicalParams

MSEARCH_BATCH = 50  # queries per `_msearch` request in batch search


class LexicalRetriever(ModeDefaults):
    """Mode `lexical`: code-aware analyzers with the boosts of `params`, plus spaCy's lemma clause.

    Example:
        >>> retriever = LexicalRetriever(client, "csn-python")
        >>> retriever.search("read a csv file", k=10).hits
    """

    mode = "lexical"

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        *,
        params: LexicalParams | None = None,
        source: Source = True,
        search_type: str | None = None,
        codebase: CodebaseParams | None = None,
    ):
        self.client, self.index, self.source, self.search_type = client, index, source, search_type
        self.params = params or LexicalParams()
        self.codebase = codebase  # set for an index of a codebase: its units are searched as codebase.py says

    @classmethod
    def from_index(cls, opened: OpenedIndex):
        """With the choice tuned for the index (see `OpenedIndex.choice`), else the defaults."""
        params = opened.choice(cls.mode).params
        codebase = CodebaseParams() if is_codebase(opened.meta) else None
        return cls(
            opened.client,
            opened.index,
            params=params,
            source=opened.source,
            search_type=search_type_of(opened.meta),
            codebase=codebase,
        )

    def body(self, text: str, *, k: int, filters: list[dict] | None = None) -> dict:
        if self.codebase is not None:
            return codebase_body(text, self.codebase, k=k, source=self.source, filters=filters)
        p, text = self.params, plain_text(text)
        if p.drop_web_words:
            from hybrid_search.retrieval.query import without_web_words

            text = without_web_words(text)
        lemmas, identifiers = "", ()
        if p.uses_variants:
            from hybrid_search.retrieval.query import query_variants

            variants = query_variants(text)
            lemmas, identifiers = variants.lemmas, variants.identifiers
        return lexical_search(
            text,
            fields=p.field_list(),
            type=p.type,
            tie_breaker=p.tie_breaker,
            lemmas=lemmas,
            lemma_boost=p.lemma_boost,
            identifiers=identifiers,
            identifier_boost=p.identifier_boost,
            size=k,
            source=self.source,
            filters=filters,
        )

    def search(self, text: str, *, k: int = 10, filters: list[dict] | None = None) -> Ranking:
        return self.search_many([text], k=k, filters=[filters])[0]

    def search_many(
        self, texts: Sequence[str], *, k: int = 100, filters: Sequence[list[dict] | None] | None = None
    ) -> list[Ranking]:
        """One ranking per text, sent as `_msearch` batches to save round trips (times shared evenly)."""
        filters = filters or [None] * len(texts)
        rankings: list[Ranking] = []
        for start in range(0, len(texts), MSEARCH_BATCH):
            chunk = list(zip(texts[start : start + MSEARCH_BATCH], filters[start : start + MSEARCH_BATCH]))
            with Timer() as timer:
                bodies = [self.body(text, k=k, filters=extra) for text, extra in chunk]
                response = msearch(self.client, msearch_lines(self.index, bodies, self.search_type))
            wall = timer.ms / len(chunk)
            rankings += [
                Ranking(hits_of(item, self.index), es_ms=item.get("took", 0), wall_ms=wall)
                for item in response["responses"]
            ]
        return rankings

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "index": self.index,
            "params": self.params.to_dict(),
            "search_type": self.search_type,
        }


class BaselineRetriever(LexicalRetriever):
    """Mode `baseline`: CodeSearchNet's Elasticsearch baseline, untuned (no parameters)."""

    mode = "baseline"
    ranks_codebases = False  # CSN's baseline as it is, on a codebase too: the reference the others beat

    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        *,
        params=None,
        source: Source = True,
        search_type: str | None = None,
        codebase=None,
    ):
        super().__init__(client, index, source=source, search_type=search_type)
        self.stable = codebase is not None  # a codebase's rankings break ties by path and line

    def body(self, text: str, *, k: int, filters: list[dict] | None = None) -> dict:
        return baseline_search(plain_text(text), size=k, source=self.source, filters=filters, stable=self.stable)

    def describe(self) -> dict:
        return {"mode": self.mode, "index": self.index}
