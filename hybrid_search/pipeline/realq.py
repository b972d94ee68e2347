"""The real-query protocol: web queries, each with the function judged to answer it, as a second validation
signal beside the docstring-as-query protocol (pipeline/valid.py).

The docstring protocol hides the target's docstring, so it rewards ignoring docstrings; someone typing a web
query has not seen the function, and a candidate's docstring is often its best evidence. Protocol (README of
the shared `cosqa-valid` folder): one index holds the pool's valid partition plus the folder's gold functions
(a gold function already in the pool is the same document: same url, same id); each query searches the whole
index; the MRR@100 and recall@10 / @100 of its gold function are reported. These queries help choose
parameters; they are never trained on (pipeline/training.py leaves their functions out of the pairs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from elasticsearch import Elasticsearch
from tqdm import tqdm

from hybrid_search import HybridError
from hybrid_search.data.annotations import load_qrels, load_queries
from hybrid_search.data.corpus import read_corpus
from hybrid_search.data.types import Function, doc_id
from hybrid_search.es import indexing
from hybrid_search.es.documents import docs_of, index_actions
from hybrid_search.es.mappings import version_body
from hybrid_search.evaluation.mrr import mean_reciprocal_rank
from hybrid_search.pipeline.build import vectors_of
from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.base import Ranking
from hybrid_search.retrieval.exact import top_k
from hybrid_search.retrieval.lexical import LexicalRetriever

DEPTH = 100  # MRR@100: a gold function below rank 100 counts as not found


def default_index(alias: str) -> str:
    return f"{alias}-realq"


@dataclass(frozen=True)
class RealQueries:
    """Queries in file order, the urls judged relevant to each (relevance > 0), and the gold functions."""

    queries: list[str]
    gold: dict[str, set[str]]  # query -> urls
    functions: list[Function]
    source: str = ""  # the folder they were read from

    def first(self, n: int) -> RealQueries:
        queries = self.queries[:n]
        return RealQueries(queries, {q: self.gold[q] for q in queries}, self.functions, self.source)

    def urls(self) -> set[str]:
        """Every gold function's url: kept out of training pairs."""
        return {f.url for f in self.functions}.union(*self.gold.values())


def load_real_queries(folder: Path) -> RealQueries:
    """queries.csv, annotationStore.csv (CodeSearchNet's format) and corpus/*.jsonl.gz of a real-query folder.

    A folder that cannot be used is one HybridError line; queries without a relevant function are left out.
    """
    if not folder.is_dir():
        raise HybridError(f"real-query folder not found: {folder}")
    try:
        texts = list(dict.fromkeys(load_queries(folder / "queries.csv")))
        qrels = load_qrels(folder / "annotationStore.csv")
        functions = list(read_corpus(folder, strict=True))
    except HybridError as exc:
        raise HybridError(f"real-query folder {folder}: {exc}") from None
    gold = {q: {url for url, grade in qrels.get(q.lower(), {}).items() if grade > 0} for q in texts}
    gold = {q: urls for q, urls in gold.items() if urls}
    if not gold:
        raise HybridError(f"real-query folder {folder}: no query in queries.csv has a relevant function")
    return RealQueries([q for q in texts if q in gold], gold, functions, str(folder))


def realq_functions(pool: Iterable[Function], real: RealQueries) -> list[Function]:
    """The pool's valid partition plus the gold functions, each document once (a pool function keeps its record)."""
    by_id: dict[str, Function] = {}
    for function in pool:
        if function.partition == "valid":
            by_id.setdefault(function.doc_id, function)
    for function in real.functions:
        by_id.setdefault(function.doc_id, function)
    return list(by_id.values())


def content_digest(functions: Iterable[Function]) -> str:
    """Identifies the indexed content, whatever order the functions come in."""
    digest = hashlib.sha1()
    for f in sorted(functions, key=lambda f: f.doc_id):
        digest.update(f"{f.doc_id}\0{f.func_name}\0{f.path}\0{f.partition}\0{f.docstring}\0{f.code}\0".encode())
    return digest.hexdigest()


def build_realq_index(
    client: Elasticsearch, name: str, pool: list[Function], real: RealQueries, *, encoder=None, progress: bool = True
) -> str:
    """The index of the protocol (pool valid partition + gold functions), with `encoder`'s vectors when given.

    Rebuilt only when its content or the vectors asked for change: an index with vectors also serves a caller
    that needs none (the tuners search dense lists exactly, in memory). Returns `name`.
    """
    functions = realq_functions(pool, real)
    content = {"functions": len(functions), "digest": content_digest(functions)}
    identity = {"name": encoder.name, "weights": encoder.fingerprint()} if encoder is not None else None
    built = indexing.current_build(client, name) or {}
    if built.get("content") == content and (identity is None or built.get("encoder") == identity):
        return name
    body, build = version_body(vectors=vectors_of(encoder)), {"content": content}
    if encoder is not None:
        build["encoder"] = identity  # where retrievers check that a tuned choice was made for these vectors
    encode = encoder.encode_functions if encoder is not None else None
    with tqdm(total=len(functions), desc=f"indexing {name}", unit=" fn", disable=not progress) as bar:
        actions = index_actions(docs_of(functions), indexing.load_alias(name), encode=encode)
        indexing.load_fresh(
            client, name, actions, build=build, body=body, what="the real-query index", on_done=bar.update
        )
    return name


# ---------------------------------------------------------------- scores


def ranked_ids(result: Ranking | dict[str, float] | Sequence) -> list[str]:
    """Document ids best first, from a Ranking, a run `{doc_id: score}` (ties by id) or a ranked list of
    `(doc_id, score)` pairs or of ids."""
    if isinstance(result, Ranking):
        return [hit.doc_id for hit in result.hits]
    if isinstance(result, dict):
        return [d for d, _ in fusion.top(result, len(result))]
    return [item if isinstance(item, str) else item[0] for item in result]


def evaluate_real(results: Sequence, real: RealQueries) -> dict:
    """MRR@100 of each query's first gold function, and recall@10 / @100 of its gold functions.

    `results` holds one ranking (see `ranked_ids`) per query of `real.queries`, in order. A query whose gold
    function is not in its top 100 scores 0.
    """
    if len(results) != len(real.queries):
        raise ValueError(f"{len(results)} rankings for {len(real.queries)} real queries")
    ranks, recall_10, recall_100 = [], [], []
    for query, result in zip(real.queries, results):
        top = ranked_ids(result)[:DEPTH]
        gold = {doc_id(url) for url in real.gold[query]}
        ranks.append(next((i for i, d in enumerate(top, start=1) if d in gold), None))
        recall_10.append(len(gold.intersection(top[:10])) / len(gold))
        recall_100.append(len(gold.intersection(top)) / len(gold))
    return {
        "mrr_at_100": mean_reciprocal_rank(ranks),
        "recall_at_10": sum(recall_10) / len(recall_10) if recall_10 else 0.0,
        "recall_at_100": sum(recall_100) / len(recall_100) if recall_100 else 0.0,
        "queries": len(ranks),
    }


def real_columns(scores: dict) -> dict:
    """`evaluate_real`'s scores named as they sit beside the valid ones in a grid row or a stored choice."""
    return {
        "mrr_real": scores["mrr_at_100"],
        "recall_at_10_real": scores["recall_at_10"],
        "recall_at_100_real": scores["recall_at_100"],
    }


# ---------------------------------------------------------------- first stage for the tuners


@dataclass
class RealRuns:
    """First-stage lists of the real queries over the protocol's functions (the counterpart of tuning's
    ValidRuns): lexical from the real-query index, dense by exact search over the encoder's vectors."""

    real: RealQueries
    functions: dict[str, Function]  # doc id -> function, every document of the index
    lexical: list[dict[str, float]]
    dense: list[dict[str, float]]


def real_first_stage(
    client: Elasticsearch,
    index: str,
    pool: list[Function],
    real: RealQueries,
    encoder,
    *,
    depth: int,
    lexical_params=None,
    progress: bool = True,
) -> RealRuns:
    """Build (or reuse) the real-query index, then each query's lexical and dense lists of `depth` documents."""
    build_realq_index(client, index, pool, real, progress=progress)
    functions = realq_functions(pool, real)
    lexical = LexicalRetriever(client, index, params=lexical_params, source=False)
    lexical_runs = [{h.doc_id: h.score for h in ranking.hits} for ranking in lexical.search_many(real.queries, k=depth)]
    vectors = encoder.encode_functions(functions)  # (functions, dims)
    query_vectors = encoder.encode_queries(real.queries)  # (queries, dims)
    dense_runs = [
        {functions[i].doc_id: float(vectors[i] @ vector) for i in row}
        for vector, row in zip(query_vectors, top_k(query_vectors, vectors, depth))
    ]
    return RealRuns(real, {f.doc_id: f for f in functions}, lexical_runs, dense_runs)
