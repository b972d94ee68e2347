"""The searchable units of one source file for an index of a codebase: every non-blank line belongs to one.

CodeSearchNet's corpus keeps CSN's function scoping (data/extract.py). A codebase is searched for more than
functions: a class ("HTTPAdapter"), a module of exception classes, a re-export module, module-level
configuration. So an index of a folder (`hybrid index --source`) holds, per file:

- `function` / `method`: every function of the module or of a class (at any class depth), from its first
  decorator (or the comment block right above it) to its last line; functions nested in a function stay
  part of that function;
- `class`: every class, spanning the whole class, whose text is what it is rather than all it contains:
  its decorators and header, docstring, class-level statements (attributes, assignments) and the `def`
  line of each method, so that a class ranks by what it defines without repeating its methods' bodies;
- `module`: each run of top-level lines outside any function or class (imports, constants, `__all__`,
  module-level code), the first one carrying the module docstring.

Python 2 files (which `ast` refuses) keep CSN's function scoping from tree-sitter, the lines between them
becoming module units, so that they too are covered.
"""

from __future__ import annotations

import ast

from hybrid_search.data.extract import Extracted, ParseFailure, extract_functions, physical_lines

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (*_FUNCTIONS, ast.ClassDef)


def extract_units(text: str) -> tuple[list[Extracted], str]:
    """(units in line order, parser: "ast" or "tree-sitter") of one file. Raises `ParseFailure` as
    `extract_functions` does."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        functions, parser = extract_functions(text)  # tree-sitter's reading, or ParseFailure
        return _in_line_order(functions + _module_units(text, [(f.start_line, f.end_line) for f in functions])), parser
    lines = physical_lines(text)
    units = list(_definitions(tree.body, "", lines))
    top = [(_first_line(node, lines), node.end_lineno) for node in tree.body if isinstance(node, _DEFINITIONS)]
    return _in_line_order(units + _module_units(text, top, ast.get_docstring(tree) or "")), "ast"


def _in_line_order(units: list[Extracted]) -> list[Extracted]:
    return sorted(units, key=lambda u: (u.start_line, -u.end_line, u.func_name))


def _first_line(node, lines: list[str]) -> int:
    """A definition starts at its first decorator (`@app.route(...)` says what the function is for), or at the
    comment block right above it (no blank line between), which is about it."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    while start > 1 and lines[start - 2].lstrip().startswith("#"):
        start -= 1
    return start


def _definitions(body: list, prefix: str, lines: list[str]):
    """Function, method and class units of a module or class body (recursing into classes only)."""
    for node in body:
        if not isinstance(node, _DEFINITIONS):
            continue
        name = f"{prefix}{node.name}"
        start, end = _first_line(node, lines), node.end_lineno
        if isinstance(node, ast.ClassDef):
            yield Extracted(name, start, end, _class_outline(node, lines), ast.get_docstring(node) or "", "class")
            yield from _definitions(node.body, f"{name}.", lines)
        else:
            code = "".join(lines[start - 1 : end]).rstrip("\r\n")
            yield Extracted(name, start, end, code, ast.get_docstring(node) or "", "method" if prefix else "function")


def _class_outline(node: ast.ClassDef, lines: list[str]) -> str:
    """A class as its header, class-level statements and the first line of each member definition."""
    body_start = node.body[0].lineno if node.body else node.end_lineno
    kept = list(range(_first_line(node, lines), body_start))  # decorators and the (maybe multi-line) header
    for statement in node.body:
        if isinstance(statement, _DEFINITIONS):
            kept += range(_first_line(statement, lines), statement.lineno + 1)  # decorators and the def line
        else:
            kept += range(statement.lineno, statement.end_lineno + 1)
    return "".join(lines[i - 1] for i in sorted(set(kept))).rstrip("\r\n")


def _module_units(text: str, covered: list[tuple[int, int]], docstring: str = "") -> list[Extracted]:
    """A `module` unit for each run of lines outside `covered` spans, blank lines trimmed from its ends."""
    lines = physical_lines(text)
    taken = [False] * (len(lines) + 2)
    for start, end in covered:
        for i in range(start, end + 1):
            taken[i] = True
    units: list[Extracted] = []
    run: list[int] = []
    for number in range(1, len(lines) + 2):  # one past the end closes the last run
        if number <= len(lines) and not taken[number]:
            run.append(number)
            continue
        code_lines = [i for i in run if lines[i - 1].strip()]
        if code_lines:
            start, end = code_lines[0], code_lines[-1]
            code = "".join(lines[start - 1 : end]).rstrip("\r\n")
            units.append(Extracted("", start, end, code, "" if units else docstring, "module"))
        run = []
    return units


__all__ = ["ParseFailure", "extract_units"]
