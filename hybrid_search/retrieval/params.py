"""The parameters of each retrieval mode, one dataclass per mode.

The defaults are the choices `hybrid tune` made on the valid partition of pool v1 (docs/tuning/ keeps each
run's record: every candidate tried and its valid scores); a tuned choice for an alias replaces them
(retrieval/tuned.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

from hybrid_search import HybridError
from hybrid_search.encoder import READ_TOKENS


@dataclass(frozen=True)
class Params:
    """Plain-JSON round trip with validation, so a hand-edited file fails in one line, not a traceback."""

    mode: ClassVar[str] = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "") -> Params:
        where = where or f"{cls.mode} parameters"
        if not isinstance(data, dict):
            raise HybridError(f"{where}: expected an object of parameters, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise HybridError(f"{where}: unknown parameter(s) {', '.join(unknown)}")
        try:
            params = cls(**cls._convert(dict(data)))
            params.check()
        except (TypeError, ValueError) as exc:
            raise HybridError(f"{where}: {exc}") from None
        return params

    @classmethod
    def _convert(cls, data: dict) -> dict:
        return data

    def check(self) -> None:
        """Raise ValueError for values no search could use."""


def boosted_fields(fields: dict[str, float]) -> list[str]:
    """`{"func_name": 2.0, "path.text": 0.0}` -> `["func_name^2"]`: the fields a query reads, with their boosts."""
    return [f"{name}^{boost:g}" for name, boost in fields.items() if boost > 0]


def float_values(mapping: dict) -> dict[str, float]:
    """A JSON object of weights by name, as the parameters hold it (names as text, weights as floats)."""
    return {str(key): float(value) for key, value in mapping.items()}


@dataclass(frozen=True)
class LexicalParams(Params):
    """Field boosts and combination for mode `lexical`, plus the spaCy query-variant clauses."""

    mode: ClassVar[str] = "lexical"
    # Chosen on both validation signals (valid docstring queries and CoSQA's real queries, docs/tuning/):
    # name, docstring and code weigh alike, summed over fields (most_fields).
    fields: dict[str, float] = field(
        default_factory=lambda: {
            "func_name": 1.0,
            "docstring": 1.0,
            "body.stem": 1.0,
            "path.text": 0.0,
            "docstring.code": 0.0,
        }
    )
    type: str = "most_fields"
    tie_breaker: float | None = None
    identifier_boost: float = 2.0  # weight of identifier-style query variants on func_name (0: off)
    lemma_boost: float = 0.5  # weight of the lemmatised query on func_name and body (0: off)
    drop_web_words: bool = True  # search without "how to ..." and the words naming Python (retrieval/query.py)

    @property
    def uses_variants(self) -> bool:
        return self.identifier_boost > 0 or self.lemma_boost > 0

    def field_list(self) -> list[str]:
        return boosted_fields(self.fields)

    @classmethod
    def _convert(cls, data: dict) -> dict:
        if "fields" in data:
            data["fields"] = float_values(data["fields"])
        for key in ("identifier_boost", "lemma_boost"):
            if key in data:
                data[key] = float(data[key])
        return data

    def check(self) -> None:
        if self.type not in ("best_fields", "most_fields", "cross_fields"):
            raise ValueError(f"type must be best_fields, most_fields or cross_fields, not {self.type!r}")
        if not any(boost > 0 for boost in self.fields.values()):
            raise ValueError("at least one field needs a positive boost")


@dataclass(frozen=True)
class DenseParams(Params):
    mode: ClassVar[str] = "dense"
    num_candidates: int = 1600  # HNSW depth: smallest with recall@100 >= 0.98 against exact search on valid
    drop_web_words: bool = False  # encode the query without "how to ..." and the words naming Python

    def check(self) -> None:
        if not 1 <= int(self.num_candidates) <= 10000:
            raise ValueError("num_candidates must be between 1 and 10000 (Elasticsearch's limit)")


@dataclass(frozen=True)
class FusionParams(Params):
    """How mode `hybrid` fuses its lexical and dense lists."""

    mode: ClassVar[str] = "hybrid"
    # Chosen on both validation signals for a dense half that reads docstrings (docs/tuning/hybrid.json).
    method: str = "linear"  # "rrf" or "linear"
    depth: int = 200  # candidates taken from each list
    weights: tuple[float, float] = (0.35, 0.65)  # (lexical, dense)
    rrf_k: float = 60.0
    norm: str = "zscore"  # linear only: "minmax" or "zscore"

    @classmethod
    def _convert(cls, data: dict) -> dict:
        if "weights" in data:
            data["weights"] = tuple(float(w) for w in data["weights"])
        return data

    def check(self) -> None:
        if self.method not in ("rrf", "linear") or self.norm not in ("minmax", "zscore"):
            raise ValueError("method must be rrf or linear, norm minmax or zscore")
        if len(self.weights) != 2 or self.depth < 1:
            raise ValueError("weights must be two numbers (lexical, dense) and depth positive")

    def fuse(self, lexical: dict[str, float], dense: dict[str, float]) -> dict[str, float]:
        from hybrid_search.retrieval import fusion

        if self.method == "rrf":
            return fusion.rrf([lexical, dense], self.weights, k=self.rrf_k)
        return fusion.linear([lexical, dense], self.weights, norm=self.norm)


@dataclass(frozen=True)
class RerankParams(Params):
    """Mode `rerank`: which re-ranker re-scores how many hybrid candidates, and how much the first stage counts."""

    mode: ClassVar[str] = "rerank"
    # Chosen on both validation signals within the 250 ms cold budget (docs/tuning/rerank.json:
    # K 25 pool MRR 0.4439 / real 0.5691 at ~218 ms, K 30 0.4393 / 0.5709 at ~260 ms; 96 word pieces lost 0.02 real).
    model: str = "minilm-ft"  # "minilm" (zero-shot, packaged) or a trained folder's name or path
    int8: bool = True  # dynamic int8 quantisation of the Linear layers (~3x faster on a CPU)
    candidates: int = 25
    first_stage_weight: float = 0.0
    reads_docstring: bool = True  # a bi-encoder re-ranker reads each candidate's docstring before its code
    max_tokens: int = READ_TOKENS  # word pieces a bi-encoder re-ranker reads of each candidate (cost ~linear in them)

    def check(self) -> None:
        if not 1 <= self.candidates <= 1000 or not 0 <= self.first_stage_weight <= 1:
            raise ValueError("candidates must be 1-1000 and first_stage_weight within [0, 1]")
        if not 16 <= self.max_tokens <= 512:
            raise ValueError("max_tokens must be 16-512 (MiniLM reads at most 512 word pieces)")


# Where the defaults above come from: what they were chosen for and their valid scores then, one entry per mode,
# each the copy of docs/tuning/<mode>.json's figures (tests/test_tuning_records.py keeps the two equal).
# The nbow encoder `scripts/run.sh` trains is deterministic (same weights on every run), so the defaults'
# valid scores hold for an index of pool v1 with those vectors, made reading docstrings ("+doc").
NBOW_V1 = {"name": "nbow", "weights": "5a8c39feb39903595a636c02b1dfcfd0083ca8da+doc"}
POOL_V1 = 365_934
BUILT_IN: dict[str, dict] = {
    "baseline": {
        "made_for": {"count": POOL_V1},
        "valid": {"mrr_pool": 0.1682, "recall_at_100_pool": 0.5975, "mrr_real": 0.2954, "queries": 400},
    },
    "lexical": {
        "made_for": {"count": POOL_V1},
        "valid": {"mrr_pool": 0.2597, "recall_at_100_pool": 0.755, "mrr_real": 0.3518, "queries": 400},
    },
    "dense": {
        "made_for": {"count": POOL_V1, "encoder": NBOW_V1},
        "valid": {"mrr_pool": 0.3400, "recall_at_100_pool": 0.785, "mrr_real": 0.3328, "queries": 1000},
    },
    "hybrid": {
        "made_for": {"count": POOL_V1, "encoder": NBOW_V1},
        "valid": {"mrr_pool": 0.3502, "recall_at_100_pool": 0.835, "mrr_real": 0.4019, "queries": 1000},
    },
    "rerank": {
        "made_for": {"count": POOL_V1, "encoder": NBOW_V1},
        "valid": {"mrr_pool": 0.4439, "recall_at_100_pool": 0.75, "mrr_real": 0.5691, "queries": 200},
    },
}
