"""Choose how a codebase is ranked (retrieval/codebase.py `CodebaseParams`) on a semble-style folder.

    .venv/bin/python scripts/tune_codebase.py [../shared/semble-dev] [--encoder nbow] [--out FILE]

Indexes each repository (as `hybrid eval-codebase` does, alias bench-<repo>; kept when already current),
then scores a small grid: what Elasticsearch is asked (field weights, symbol boost, fusion weights for
hybrid) is searched once per query, and what is arranged here (file evidence, same-file decay) is varied
over the same candidates. Prints the mean NDCG@10 over repositories per candidate, best first, and writes
them all to --out. Choose on this development folder only: other repositories check that it carries over.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

from hybrid_search.config import EsSettings, Paths
from hybrid_search.es.client import connect
from hybrid_search.es.indexing import index_meta
from hybrid_search.evaluation.codebase import covered_targets, load_benchmark, ndcg_at, target_ranks
from hybrid_search.pipeline.codebase_bench import RESULT_FIELDS, bench_alias, indexed_units, located
from hybrid_search.pipeline.source import choose_encoder, sync_source
from hybrid_search.retrieval.codebase import CodebaseParams, arrange
from hybrid_search.retrieval.dense import DenseRetriever, index_encoder
from hybrid_search.retrieval.hybrid import HybridRetriever
from hybrid_search.retrieval.lexical import LexicalRetriever
from hybrid_search.retrieval.params import FusionParams

ES_GRID = {
    "name": [1.0, 2.0],
    "words": [1.0, 2.0],
    "prefixes": [1.0],
    "symbol_boost": [30.0],
    "private": [1.0, 0.5],
    "compat": [0.3],
}
FUSION_GRID = [None, (0.5, 0.5), (0.7, 0.3), (0.85, 0.15)]  # None: lexical alone
ARRANGE_GRID = {"coherence": [0.2, 0.4, 0.6], "same_file_decay": [0.1, 0.3, 0.5]}


def es_params(name, words, prefixes, symbol_boost, private, compat) -> CodebaseParams:
    fields = {"func_name": name, "docstring": 1.0, "body.stem": 1.0, "file_words": words}
    if prefixes:
        fields["file_words.prefix"] = prefixes
    roles = {**CodebaseParams().role_weights, "private": private, "compat": compat}
    return CodebaseParams(fields=fields, symbol_boost=symbol_boost, role_weights=roles)


def retriever(client, alias, params, weights, encoder):
    lexical = LexicalRetriever(client, alias, source=RESULT_FIELDS, codebase=params)
    if weights is None:
        return lexical
    dense = DenseRetriever(client, alias, encoder=encoder, source=RESULT_FIELDS, codebase=params)
    return HybridRetriever(lexical, dense, params=FusionParams(method="linear", weights=weights, norm="zscore"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path("../shared/semble-dev"))
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/codebase/tuning.json"))
    args = parser.parse_args()
    paths, client = Paths.from_env(), connect(EsSettings.from_env())
    repos, tasks = load_benchmark(args.folder)
    prepared = []
    for repo in repos:
        alias = bench_alias(repo.name)
        model = choose_encoder(client, alias, args.encoder, models=paths.models)
        sync_source(client, repo.folder, alias, encoder=model, progress=False)
        meta = index_meta(client, alias)
        encoder = index_encoder(meta, alias, models=paths.models) if "encoder" in meta else None
        units = indexed_units(client, alias, repo.root)
        mine = [task for task in tasks if task.repo == repo.name]
        covered = [covered_targets(units, task.targets) for task in mine]  # what every configuration divides by
        prepared.append((repo, alias, encoder, list(zip(mine, covered))))
    scores: dict[str, float] = {}
    for values in itertools.product(*ES_GRID.values()):
        base = es_params(*values)
        for weights in FUSION_GRID:
            if weights is not None and any(encoder is None for *_, encoder, _ in prepared):
                continue
            candidates = {}
            for repo, alias, encoder, scored in prepared:
                search = retriever(client, alias, base, weights, encoder)
                for task, _ in scored:
                    candidates[(repo.name, task.query)] = search.search(task.query, k=base.depth).hits
            for arranged in itertools.product(*ARRANGE_GRID.values()):
                params = replace(base, **dict(zip(ARRANGE_GRID, arranged)))
                per_repo = []
                for repo, _, _, scored in prepared:
                    values_ = []
                    for task, n_covered in scored:
                        hits = arrange(candidates[(repo.name, task.query)], params, 10)
                        top = [located(h.source, repo.root) for h in hits]
                        values_.append(ndcg_at(target_ranks(top, task.targets), n_covered, 10))
                    per_repo.append(sum(values_) / len(values_))
                key = json.dumps({"es": values, "weights": weights, "arrange": arranged})
                scores[key] = sum(per_repo) / len(per_repo)
    best = sorted(scores.items(), key=lambda kv: -kv[1])
    for key, value in best[:25]:
        print(f"{value:.4f}  {key}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"grid": {"es": ES_GRID, "fusion": FUSION_GRID, "arrange": ARRANGE_GRID}, "scores": dict(best)}, indent=1
        )
    )


if __name__ == "__main__":
    main()
