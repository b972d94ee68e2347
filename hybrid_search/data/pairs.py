"""(docstring, code) training pairs with CodeSearchNet's filters, and the counts each filter removed.

Filters, in order: annotated functions (never trained on), test code (path or name), undocumented dunder
methods, docstrings whose first paragraph has fewer than 3 tokens, code (docstring removed) of fewer than
3 lines, and duplicates (same code once whitespace is normalised).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hybrid_search.data.code import first_paragraph, rest_of_docstring, strip_docstring
from hybrid_search.data.types import Function

_TEST_PATH = re.compile(r"(^|/)(tests?|testing)(/|$)|(^|/)test_[^/]*$|_tests?\.py$|(^|/)conftest\.py$")
_TEST_NAME = re.compile(r"(^|[._])test", re.IGNORECASE)
FILTERS = ("annotated", "test", "dunder", "short_docstring", "short_code", "duplicate")


@dataclass(frozen=True)
class Pair:
    """A query (docstring's first paragraph) and the function it describes, whose code excludes the docstring."""

    query: str
    function: Function
    code: str  # the function's source without its docstring


def is_test(function: Function) -> bool:
    name = function.func_name.rsplit(".", 1)[-1]
    return bool(_TEST_PATH.search(function.path) or _TEST_NAME.search(name))


def is_dunder(function: Function) -> bool:
    name = function.func_name.rsplit(".", 1)[-1]
    return name.startswith("__") and name.endswith("__")


def rejection(function: Function, annotated: set[str]) -> str | None:
    """The first filter that rejects `function` as a pair, or None if it makes a pair (duplicates aside)."""
    query_tokens = len(first_paragraph(function.docstring).split())
    if function.url in annotated:
        return "annotated"
    if is_test(function):
        return "test"
    if is_dunder(function) and query_tokens == 0:
        return "dunder"
    if query_tokens < 3:
        return "short_docstring"
    if sum(1 for line in strip_docstring(function.code).splitlines() if line.strip()) < 3:
        return "short_code"
    return None


def make_pairs(functions: Iterable[Function], annotated: set[str], removed: Counter | None = None) -> Iterator[Pair]:
    """Pairs from `functions`; `removed` (if given) counts how many each filter dropped."""
    removed = removed if removed is not None else Counter()
    seen: set[bytes] = set()
    for function in functions:
        reason = rejection(function, annotated)
        if reason:
            removed[reason] += 1
            continue
        code = strip_docstring(function.code)
        key = hashlib.blake2b(" ".join(code.split()).encode(), digest_size=16).digest()
        if key in seen:
            removed["duplicate"] += 1
            continue
        seen.add(key)
        yield Pair(first_paragraph(function.docstring), function, code)


def with_docstring_rest(pair: Pair) -> Pair:
    """The pair as a docstring-reading encoder trains on it: the code side also reads the docstring's other
    paragraphs (never the first, the query), so it learns to use a docstring and still works without one."""
    rest = rest_of_docstring(pair.function.docstring)
    return Pair(pair.query, pair.function, f"{rest}\n{pair.code}" if rest else pair.code)
