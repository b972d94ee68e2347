"""Matched query terms from Elasticsearch highlights, marked in syntax-highlighted code (HTML-safe).

ES highlights each field with its own analyzer (a stemmed docstring matches "reads" for "read", the code
analyzer matches "read" inside `read_csv`, the standard analyzer matches "dataframe" in `DataFrame`). The
highlighted spans of every field become lower-case words, and those words are marked wherever they occur in
the function's name and code, as a whole word or as a part of an identifier (`read` in `readCsv`), so the
marks agree across fields whatever analyzer found the match. English stop words are not marked: the code
analyzer keeps them, so "to" in `json_to_csv` matches, but marking every "to" in the code only adds noise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES, _TokenType
from spacy.lang.en.stop_words import STOP_WORDS

from hybrid_search.data.code import IDENTIFIER_PARTS
from hybrid_search.es.queries import MARK_END, MARK_START

CODE_CSS_SCOPE = ".code"
PYGMENTS_STYLE = "friendly"
SPAN = re.compile(f"{MARK_START}(.*?){MARK_END}", re.DOTALL)
WORD = re.compile(r"[A-Za-z0-9]+")
_LEXER = PythonLexer(stripnl=False, ensurenl=False)


def matched_terms(highlight: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Lower-case words of every span ES highlighted, over all fields, but single characters and stop words."""
    spans = (m.group(1) for fragments in highlight.values() for text in fragments for m in SPAN.finditer(text))
    words = {word.lower() for span in spans for word in WORD.findall(span)}
    return frozenset(word for word in words if len(word) > 1 and word not in STOP_WORDS)


def matched_spans(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    """(start, end) of each word of `text` that is a term, else of each of its parts that is one."""
    spans = []
    for word in WORD.finditer(text):
        if word.group(0).lower() in terms:
            spans.append(word.span())
            continue
        for part in IDENTIFIER_PARTS.finditer(word.group(0)):
            if part.group(0).lower() in terms:
                spans.append((word.start() + part.start(), word.start() + part.end()))
    return spans


def mark(text: str, terms: frozenset[str]) -> Markup:
    """`text` HTML-escaped, with the matched terms wrapped in <mark>."""
    out, end = [], 0
    for start, stop in matched_spans(text, terms) if terms else ():
        out += [escape(text[end:start]), Markup("<mark>%s</mark>") % text[start:stop]]
        end = stop
    out.append(escape(text[end:]))
    return Markup("").join(out)


def css_class(token_type: _TokenType) -> str:
    """Pygments' short CSS class of a token type (its nearest standard ancestor's), as HtmlFormatter names it."""
    while token_type not in STANDARD_TYPES:
        token_type = token_type.parent
    return STANDARD_TYPES[token_type]


def render_code(code: str, terms: frozenset[str]) -> Markup:
    """Python code as HTML spans with Pygments' classes (see `code_css`), matched terms marked inside them."""
    out = []
    for token_type, value in _LEXER.get_tokens(code):
        cls, body = css_class(token_type), mark(value, terms)
        out.append(Markup('<span class="%s">%s</span>') % (cls, body) if cls else body)
    return Markup("").join(out)


def code_css() -> str:
    """The Pygments style's rules for the classes `render_code` emits, scoped to CODE_CSS_SCOPE."""
    return HtmlFormatter(style=PYGMENTS_STYLE).get_style_defs(CODE_CSS_SCOPE)


def safe_href(url: str) -> str | None:
    """`url` if the page may link to it: http(s) with a host, or a local checkout's file:///path; else None.

    Corpus urls are data from elsewhere: an allow-list, since `javascript:` hides behind case, leading
    spaces and tabs that browsers drop (`java\tscript:`), and data:, vbscript: and friends do the same harm.
    """
    if not url or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and host:
        return url
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return url
    return None


def where(source: dict) -> str:
    """`repo/path:line` of a result (the line of its `def`; no line when the document has none)."""
    line = source.get("start_line") or 0
    return f"{source.get('repo', '')}/{source.get('path', '')}" + (f":{line}" if line else "")
