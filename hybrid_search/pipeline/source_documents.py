"""The documents of one source file: its units (data/units.py), each under an id that is its identity, with
the hash that says whether it changed and the fields only an index of a codebase has."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from hybrid_search.data.checkout import Checkout
from hybrid_search.data.extract import Extracted
from hybrid_search.data.roles import path_role
from hybrid_search.data.types import Function

Document = tuple[Function, str, dict]  # a unit, its content hash, the fields only a codebase index has


def unit_documents(checkout: Checkout, path: str, units: list[Extracted]) -> dict[str, Document]:
    """doc id -> (Function, fn_sha, codebase fields) for the units of one file (data/units.py).

    A module unit is named after its module (`pkg.util`); repeats of one name (a property's getter and
    setter, a module's several runs of top-level code) are told apart by their order: `#2`, `#3`."""
    seen: Counter[str] = Counter()
    documents = {}
    committed = path not in checkout.changed
    module = module_name(path)
    for item in units:
        name = item.func_name or module
        seen[name] += 1
        identity = f"{path}::{name}" + (f"#{seen[name]}" if seen[name] > 1 else "")
        function = Function(
            url=checkout.url(path, item.start_line, item.end_line),
            repo=checkout.repo,
            path=path,
            func_name=name,
            code=item.code,
            docstring=item.docstring,
            sha=checkout.commit if committed else "",
            start_line=item.start_line,
            end_line=item.end_line,
        )
        fields = codebase_fields(path, name, item.kind)
        documents[hashlib.sha1(identity.encode()).hexdigest()] = (function, content_hash(function, item.kind), fields)
    return documents


def module_name(path: str) -> str:
    """`pkg/sub/mod.py` -> `pkg.sub.mod`; a package's `__init__.py` is the package itself."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def codebase_fields(path: str, name: str, kind: str) -> dict:
    """What the ranking of a codebase reads besides the text (es_mappings/source_fields.json)."""
    parent, _, symbol = name.rpartition(".") if kind != "module" else ("", "", name)
    return {
        "kind": kind,
        "symbol": symbol,
        "parent": parent,
        "role": path_role(path),
        "file_words": path.removesuffix(".py").replace("/", " "),
    }


def content_hash(function: Function, kind: str = "function") -> str:
    """What makes a unit changed: its file, name, kind, lines, code and docstring. Not the commit or the link:
    a link made earlier still shows this very unit at these lines, so a commit alone rewrites nothing."""
    fields = [function.path, function.func_name, function.start_line, function.end_line, function.code]
    return hashlib.sha1(json.dumps([*fields, function.docstring, kind]).encode()).hexdigest()
