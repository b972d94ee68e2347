"""What is written to Elasticsearch: each function's document, serialised, as a bulk index action.

`index_actions` is the one action builder: the corpus build, the real-query index, the valid protocol and the
index of a source folder all write through it (same fields, same orjson fast path, vectors encoded in chunks).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import orjson

from hybrid_search.data.code import name_subtokens, strip_docstring
from hybrid_search.data.types import Function
from hybrid_search.es.mappings import VECTOR_FIELD


class Doc(NamedTuple):
    """One document to write: its id, its function, the fields only some indices have (a source folder's
    `fn_sha`, `kind` ...), and whether its docstring is masked (the valid protocol's targets)."""

    doc_id: str
    function: Function
    fields: dict | None = None
    masked: bool = False


def docs_of(functions: Iterable[Function]) -> Iterator[Doc]:
    """The corpus's documents: each function under the id of its url."""
    return (Doc(function.doc_id, function) for function in functions)


def document(function: Function, masked: bool = False) -> dict:
    """The indexed source of one function. `masked` drops its docstring (valid-partition protocol)."""
    return {
        "url": function.url,
        "repo": function.repo,
        "sha": function.sha,
        "path": function.path,
        "start_line": function.start_line,
        "end_line": function.end_line,
        "language": function.language,
        "partition": function.partition,
        "masked": masked,
        "func_name": function.func_name,
        "name_subtokens": name_subtokens(function.func_name),
        "docstring": "" if masked else function.docstring,
        "code": strip_docstring(function.code) if masked else function.code,
        "body": strip_docstring(function.code),
    }


def source_json(source: dict) -> bytes:
    """A document's source as JSON, serialised here rather than by the bulk helper: orjson writes a float32
    vector in its shortest exact form, 17x faster than `json` writes it as a list of Python floats (~110 s of
    a 2-core machine's CPU for the full corpus's 256-d vectors) and in 40% fewer bytes."""
    try:
        return orjson.dumps(source, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:  # text orjson refuses (a lone surrogate) is escaped as `json` does
        return json.dumps({k: v.tolist() if hasattr(v, "tolist") else v for k, v in source.items()}).encode()


def index_actions(
    docs: Iterable[Doc],
    target: str,
    encode: Callable[[list[Function]], Sequence] | None = None,
    chunk: int = 1024,
) -> Iterator[dict]:
    """Index actions into `target` (an alias: `bulk.bulk_load` writes through aliases only), each source
    already serialised (`source_json`); with `encode` (functions -> vectors), chunks of documents are encoded
    and fill the `embedding` field."""
    iterator = iter(docs)
    while batch := list(itertools.islice(iterator, chunk)):
        vectors = encode([doc.function for doc in batch]) if encode is not None else [None] * len(batch)
        for doc, vector in zip(batch, vectors):
            source = {**document(doc.function, doc.masked), **(doc.fields or {})}
            if vector is not None:
                source[VECTOR_FIELD] = np.asarray(vector, dtype=np.float32)
            yield {"_op_type": "index", "_index": target, "_id": doc.doc_id, "_source": source_json(source)}
