"""Python functions of one source file, scoped as the CodeSearchNet corpus scopes them.

CSN keeps module-level functions (`name`) and the methods of module-level classes (`Class.name`), async and
decorated ones included; functions nested in functions, methods of nested classes and definitions under an
`if` or `try` are left out. `code` is the source lines from the `def` line (decorators excluded, the method's
indentation kept) to the last line of the body; `docstring` is cleaned as `inspect.cleandoc` cleans it.

Two parsers, for a reason each: the running interpreter's `ast` is the authority on Python 3 (exact
spans, docstrings as Python evaluates them), but it rejects Python 2 (`print "x"`, `except E, e`); the
tree-sitter grammar CodeSearchNet itself parsed with accepts both, so it reads what `ast` refused. A file
both reject is a `ParseFailure` with the line `ast` named. On a file both accept they agree
(tests/test_extract.py checks it on this package's own source).
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class Extracted:
    """One function of a file: its qualified name (`Class.method`), lines (1-based, inclusive) and text.
    `kind` says what it is in an index of a codebase (data/units.py): function, method, class or module."""

    func_name: str
    start_line: int
    end_line: int
    code: str
    docstring: str = ""
    kind: str = "function"


class ParseFailure(Exception):
    """Neither parser could read the file: `line` is where Python's own parser stopped."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def extract_functions(text: str) -> tuple[list[Extracted], str]:
    """(functions, which parser read them: "ast" or "tree-sitter") of one file's source text.

    Raises `ParseFailure` when neither parser accepts the file.
    """
    try:
        return extract_with_ast(text), "ast"
    except SyntaxError as error:  # IndentationError and TabError too
        failure = ParseFailure(error.lineno or 0, error.msg or "invalid syntax")
    except (ValueError, RecursionError, MemoryError) as error:  # a NUL byte, or nesting too deep for ast
        failure = ParseFailure(0, str(error) or type(error).__name__)
    functions = extract_with_tree_sitter(text)
    if functions is None:
        raise failure
    return functions, "tree-sitter"


_LINE = re.compile(r".*?(?:\r\n|\r|\n)|.+\Z", re.DOTALL)


def physical_lines(text: str) -> list[str]:
    """The lines as Python counts them (str.splitlines also breaks at form feeds and other separators)."""
    return _LINE.findall(text)


def _lines_of(text: str, start: int, end: int, lines: list[str]) -> str:
    return "".join(lines[start - 1 : end]).rstrip("\r\n")


def _scoped(body, is_function, is_class, name_of, members_of):
    """(node, qualified name) of CSN's scope: top-level functions, and functions directly in top-level classes."""
    for node in body:
        if is_function(node):
            yield node, name_of(node)
        elif is_class(node):
            for member in members_of(node):
                if is_function(member):
                    yield member, f"{name_of(node)}.{name_of(member)}"


# ---------------------------------------------------------------- ast (Python 3)

_AST_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def extract_with_ast(text: str) -> list[Extracted]:
    """Functions of a file the running interpreter can parse (raises SyntaxError otherwise)."""
    tree = ast.parse(text)
    lines = physical_lines(text)
    return [
        Extracted(
            func_name=name,
            start_line=node.lineno,  # the `def` line: decorators have lines of their own
            end_line=node.end_lineno,
            code=_lines_of(text, node.lineno, node.end_lineno, lines),
            docstring=ast.get_docstring(node) or "",
        )
        for node, name in _scoped(
            tree.body,
            lambda n: isinstance(n, _AST_FUNCTIONS),
            lambda n: isinstance(n, ast.ClassDef),
            lambda n: n.name,
            lambda n: n.body,
        )
    ]


# ---------------------------------------------------------------- tree-sitter (Python 2 and what ast refuses)


@cache
def _parser():
    import tree_sitter
    import tree_sitter_python

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


def _unwrap(node):
    """A decorated definition's function or class; any other node as it is."""
    return node.child_by_field_name("definition") if node.type == "decorated_definition" else node


def _members(class_node):
    body = class_node.child_by_field_name("body")
    return [_unwrap(child) for child in body.named_children] if body else []


def extract_with_tree_sitter(text: str) -> list[Extracted] | None:
    """Functions of a file the tree-sitter grammar reads without error (Python 2 included); None otherwise."""
    source = text.encode("utf-8", "surrogatepass")
    tree = _parser().parse(source)
    if tree.root_node.has_error:
        return None
    lines = physical_lines(text)
    functions = []
    for node, name in _scoped(
        [_unwrap(child) for child in tree.root_node.named_children],
        lambda n: n is not None and n.type == "function_definition",
        lambda n: n is not None and n.type == "class_definition",
        lambda n: _text(n.child_by_field_name("name"), source),
        _members,
    ):
        start, end = node.start_point.row + 1, _last_code_token(node).end_point.row + 1
        functions.append(
            Extracted(
                func_name=name,
                start_line=start,
                end_line=end,
                code=_lines_of(text, start, end, lines),
                docstring=_ts_docstring(node, source),
            )
        )
    return functions


def _last_code_token(node):
    """The last token that is not a comment: tree-sitter's block runs on over trailing comments, ast's does not."""
    while children := [child for child in node.children if child.type != "comment"]:
        node = children[-1]
    return node


def _text(node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")


def _ts_docstring(function, source: bytes) -> str:
    """The first statement of the body when it is a string literal, evaluated and cleaned like ast's."""
    body = function.child_by_field_name("body")
    first = body.named_children[0] if body and body.named_children else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return ""
    literal = first.named_children[0]
    if literal.type not in ("string", "concatenated_string"):
        return ""
    value = _string_value(_text(literal, source))
    return inspect.cleandoc(value) if value else ""


_PREFIX = re.compile(r"^[A-Za-z]*")


def _string_value(literal: str) -> str:
    """A string literal's value; Python 2 forms Python 3 rejects (`ur"..."`) read with their quotes cut off."""
    try:
        value = ast.literal_eval(literal)
    except (SyntaxError, ValueError):
        body = _PREFIX.sub("", literal)
        quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
        return body[len(quote) : len(body) - len(quote)] if len(body) >= 2 * len(quote) else ""
    if isinstance(value, bytes):  # ast.get_docstring reads str literals only
        return ""
    return value if isinstance(value, str) else ""
