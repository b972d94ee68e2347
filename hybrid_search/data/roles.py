"""What part a file plays in a codebase, from its path: the implementation, or something that ranks below it.

A question about a codebase is about its implementation; tests, examples, documentation snippets,
compatibility shims and vendored copies mention the same names and words, and would otherwise crowd it
out. The role is stored with each unit of a codebase index and weighs its score in Elasticsearch
(retrieval/codebase.py); nothing is left out of the index.
"""

from __future__ import annotations

import re

ROLES = ("code", "private", "test", "example", "compat", "vendored", "reexport")

_TEST_FILE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test|tests?|conftest)\.py$")
_DIRS = {
    "test": re.compile(r"(?:^|/)(?:tests?|testing|__tests__)/"),
    "example": re.compile(r"(?:^|/)(?:_?examples?|docs?|docs_src|demos?|samples?|benchmarks?)/"),
    # compatibility shims, and a frozen copy of an older major version kept beside the current one (`v1/`)
    "compat": re.compile(r"(?:^|/)(?:_?compat|legacy|deprecated|py2|v\d+)(?:/|\.py$|_[^/]*\.py$)"),
    "vendored": re.compile(r"(?:^|/)(?:_?vendor(?:ed)?|third_party|externals?)/"),
}


# A module or package named `_x`: the implementation behind a public module, which is where a question about
# the codebase is usually answered (`termui.py` before `_termui_impl.py`, `fields.py` before `_internal/_fields.py`).
_PRIVATE = re.compile(r"(?:^|/)_[^_/][^/]*(?:/|$)")


def path_role(path: str) -> str:
    """One of ROLES for a path relative to the indexed folder (`/` separated)."""
    if _TEST_FILE.search(path) or _DIRS["test"].search(path):
        return "test"
    for role in ("example", "vendored", "compat"):
        if _DIRS[role].search(path):
            return role
    if path == "__init__.py" or path.endswith("/__init__.py"):
        return "reexport"
    if _PRIVATE.search(path):
        return "private"
    return "code"
