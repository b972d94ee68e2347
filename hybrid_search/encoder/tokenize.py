"""Sub-token tokenisation shared by queries and code, mirroring the ES code analyzer.

Text is split on anything but letters, digits, `_` and `.`, then each word into camelCase / snake_case /
dotted / digit parts, lower-cased: `pd.read_csv(filePath)` -> pd read csv file path. Queries and code
use the same function, so "read csv" and `read_csv` meet on the same tokens.

One difference from ES's word_delimiter_graph (checked by tests/test_properties.py): an upper-case run
before a capitalised word is split off here (`HTTPServer` -> http server) but kept whole by ES (httpserver).
It stays: the trained encoders' vocabularies were built with this split.
"""

from __future__ import annotations

import re

from hybrid_search.data.code import IDENTIFIER_PARTS as _PARTS

_WORDS = re.compile(r"[A-Za-z0-9_.]+")


def subtokens(text: str, limit: int | None = None) -> list[str]:
    """Lower-cased sub-tokens of `text`, at most `limit` of them."""
    tokens: list[str] = []
    for word in _WORDS.findall(text):
        for part in _PARTS.findall(word):
            tokens.append(part.lower())
            if limit is not None and len(tokens) >= limit:
                return tokens
    return tokens


def code_subtokens(func_name: str, code_without_docstring: str, limit: int | None = None) -> list[str]:
    """What the code encoder reads: the function name's parts first (never truncated away), then the body."""
    return subtokens(f"{func_name} {code_without_docstring}", limit)
