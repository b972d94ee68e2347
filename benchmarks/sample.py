"""The corpus samples each scale runs on, and the query workload beside the challenge queries."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable
from pathlib import Path

from hybrid_search.data.code import first_paragraph
from hybrid_search.data.types import Function


def in_sample(doc_id: str, fraction: float) -> bool:
    """Deterministic, nested samples: a function in the 25% sample is in every larger one."""
    return int(doc_id[:8], 16) < fraction * 0x1_0000_0000


def write_sample(functions: Iterable[Function], folder: Path) -> int:
    """The sample as one shared-format shard (what `hybrid index` reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with gzip.open(folder / "functions-000.jsonl.gz", "wt", encoding="utf-8") as out:
        for f in functions:
            record = {key: getattr(f, key) for key in ("url", "repo", "path", "func_name", "code", "docstring")}
            out.write(json.dumps({**record, "partition": f.partition}) + "\n")
            count += 1
    return count


def valid_query_texts(functions: Iterable[Function], n: int, seed: int, exclude: set[str]) -> list[str]:
    """Docstring first paragraphs of valid-partition functions (a query workload, not a relevance set)."""
    texts = sorted({first_paragraph(f.docstring) for f in functions if f.partition == "valid" and f.url not in exclude})
    texts = [t for t in texts if 3 <= len(t.split()) <= 40]
    random.Random(seed).shuffle(texts)
    return texts[:n]
