"""Text helpers on Python source and docstrings, shared by indexing and the valid-partition protocol."""

from __future__ import annotations

import io
import re
import tokenize

# The parts of an identifier: camelCase humps, an upper-case run (split off before a capitalised word:
# `HTTPServer` -> HTTP Server), lower-case runs, digit runs. The one definition, shared by the baseline's name
# field, the encoders' tokeniser and the page's highlighting; it mirrors the ES code analyzer's
# word_delimiter_graph except for that upper-case run, which ES keeps whole (tests/test_properties.py).
IDENTIFIER_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def name_subtokens(func_name: str) -> str:
    """`Class.readCsvFile_v2` -> `Class read Csv File v 2`: how CSN's baseline splits a function name."""
    return " ".join(IDENTIFIER_PARTS.findall(func_name))


def first_paragraph(docstring: str) -> str:
    """The docstring up to its first blank line, whitespace-collapsed (CSN's query from a docstring)."""
    paragraph = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    return " ".join(paragraph.split())


def rest_of_docstring(docstring: str) -> str:
    """The docstring after its first paragraph (what a docstring-reading encoder sees of a training pair's
    function: the first paragraph is the pair's query)."""
    parts = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def strip_docstring(code: str) -> str:
    """The function's source without its docstring literal, as CSN's code_tokens leave it out.

    Uses the tokenizer rather than `ast` so that Python 2 code (print statements, backticks) still works;
    returns the code unchanged when no docstring is found or the source cannot be tokenized.
    """
    lines = code.splitlines(keepends=True)
    try:
        span = _docstring_span(code)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    if span is None:
        return code
    (start_row, start_col), (end_row, end_col) = span
    head = "".join(lines[: start_row - 1]) + lines[start_row - 1][:start_col]
    tail = lines[end_row - 1][end_col:] + "".join(lines[end_row:])
    return head + tail


def _docstring_span(code: str):
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    depth, seen_def, after_header = 0, False, False
    for token in tokens:
        if not seen_def:
            seen_def = token.type == tokenize.NAME and token.string == "def"
            continue
        if not after_header:
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
            elif token.type == tokenize.OP and token.string == ":" and depth == 0:
                after_header = True
            continue
        if token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.COMMENT):
            continue
        return (token.start, token.end) if token.type == tokenize.STRING else None
    return None
