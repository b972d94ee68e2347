"""The valid-partition protocol used to choose every parameter (never the 99 annotated queries).

Queries are docstrings of valid-partition functions that pass CodeSearchNet's pair filters (first
paragraph of at least 3 tokens, code of at least 3 lines, no tests, annotated functions excluded). A query
must not find its target through the target's own docstring, so the target is searched in a *masked* form:
the valid index holds every valid function intact plus a masked copy of each target (docstring field
empty, docstring literal cut out of the code). Each query's filter admits exactly one version of its own
target, the masked one:

- pool MRR: the target's masked copy against every other valid function, intact (docstrings included);
- CSN MRR: CodeSearchNet's protocol, the target against the 999 other (masked) targets of its batch of 1,000.

A learned model that reads docstrings (a dense code side, a re-ranker) is shown every pool function without its
docstring's first paragraph, the target's masked copy included, which keeps the rest of its docstring
(`Function.without_summary`): with the distractors' docstrings intact and the target's gone, reading docstrings
would lose on this protocol by construction, a handicap no real search has. A code-only model sees the same
either way. The lexical valid index keeps every distractor intact, as it always has (its docstring weight is
judged on real queries too, pipeline/realq.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path

from elasticsearch import Elasticsearch
from tqdm import tqdm

from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.data.pairs import Pair, make_pairs
from hybrid_search.data.types import Function
from hybrid_search.es import indexing, queries
from hybrid_search.es.documents import Doc, docs_of, index_actions
from hybrid_search.evaluation.mrr import mean_reciprocal_rank, recall_at
from hybrid_search.retrieval.base import Ranking

CSN_BATCH = 1000
MASKED_PREFIX = "masked-"


def masked_id(pair: Pair) -> str:
    """Id of the masked copy of a query's target in the valid index."""
    return MASKED_PREFIX + pair.function.doc_id


def sample_queries(functions: Iterable[Function], n: int, seed: int, annotated: set[str]) -> list[Pair]:
    """`n` pairs drawn at random (fixed seed) from those passing CSN's filters (data/pairs.py)."""
    candidates = list(make_pairs(functions, annotated))
    random.Random(seed).shuffle(candidates)
    return candidates[:n]


def valid_functions(source: Path) -> list[Function]:
    return [f for f in read_corpus(source, ReadReport()) if f.partition == "valid"]


def build_valid_index(
    client: Elasticsearch, name: str, functions: list[Function], queries: list[Pair], progress: bool = True
) -> str:
    """(Re)build the valid index unless one with the same content fingerprint exists; returns its name."""
    indexing.validate_name(name)
    fingerprint = {
        "functions": len(functions),
        "targets": sorted(q.function.doc_id for q in queries)[:50],
        "n_targets": len(queries),
    }
    if indexing.current_build(client, name) == fingerprint:
        return name

    load = indexing.load_alias(name)  # bulk_load writes through an alias only: never auto-creates `name`

    def docs():
        yield from docs_of(functions)
        for query in queries:
            yield Doc(masked_id(query), query.function, masked=True)

    with tqdm(total=len(functions) + len(queries), desc=f"indexing {name}", unit=" fn", disable=not progress) as bar:
        indexing.load_fresh(
            client, name, index_actions(docs(), load), build=fingerprint, what="the valid index", on_done=bar.update
        )
    return name


def pool_filter(query: Pair) -> list[dict]:
    """Every intact valid function except the target, plus the target's masked copy."""
    return queries.pool_filter(target_id=query.function.doc_id, masked_target_id=masked_id(query))


def csn_filter(batch: list[Pair]) -> list[dict]:
    """The masked copies of one batch of 1,000 targets (CodeSearchNet's 999 distractors)."""
    return queries.ids_filter([masked_id(q) for q in batch])


SearchMany = Callable[[list[str], int, list[list[dict]]], list[Ranking]]


def rank_of(target_id: str, ranking: Ranking) -> int | None:
    return next((i for i, hit in enumerate(ranking.hits, start=1) if hit.doc_id == target_id), None)


def evaluate_valid(search_many: SearchMany, queries: list[Pair], depth: int = 1000) -> dict:
    """Pool MRR / recall@100 and CSN-protocol MRR of one retrieval function on the valid queries."""
    texts = [q.query for q in queries]
    pool_hits = search_many(texts, depth, [pool_filter(q) for q in queries])
    pool_ranks = [rank_of(masked_id(q), hits) for q, hits in zip(queries, pool_hits)]
    csn_ranks: list[int | None] = []
    for start in range(0, len(queries), CSN_BATCH):
        batch = queries[start : start + CSN_BATCH]
        hits = search_many([q.query for q in batch], len(batch), [csn_filter(batch)] * len(batch))
        csn_ranks += [rank_of(masked_id(q), h) for q, h in zip(batch, hits)]
    return {
        "mrr_pool": mean_reciprocal_rank(pool_ranks),
        "recall_at_100_pool": recall_at(pool_ranks, 100),
        "mrr_csn": mean_reciprocal_rank(csn_ranks),
        "queries": len(queries),
    }
