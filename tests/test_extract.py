"""Functions of a source file as CodeSearchNet scopes them, and the files of a folder that are indexed."""

import subprocess
import textwrap
from pathlib import Path

import pytest

from hybrid_search.data.checkout import MAX_FILE_BYTES, open_checkout, read_source, walk, web_of_remote
from hybrid_search.data.extract import (
    Extracted,
    ParseFailure,
    extract_functions,
    extract_with_ast,
    extract_with_tree_sitter,
)

PACKAGE = Path(__file__).resolve().parents[1] / "hybrid_search"

MODULE = textwrap.dedent(
    '''\
    """Module docstring."""
    import os


    @decorator
    def top(a, b=1):
        """Add things.

        Detail:
            indented more.
        """
        def nested():
            return 1
        return a + b  # trailing comment
        # a comment after the body


    class Store(object):
        """Class docstring."""

        def get(self, key):
            return self.data[key]

        @property
        def size(self):
            return len(self.data)

        @size.setter
        def size(self, value):
            raise AttributeError("read only")

        async def fetch(self):
            "One-quoted docstring."
            await self.load()

        class Inner:
            def hidden(self):
                pass


    if os.name == "nt":
        def windows_only():
            pass
    '''
)


def test_ast_keeps_csn_scope_lines_code_and_cleaned_docstrings():
    functions = extract_with_ast(MODULE)
    assert [f.func_name for f in functions] == ["top", "Store.get", "Store.size", "Store.size", "Store.fetch"]
    top = functions[0]
    assert (top.start_line, top.end_line) == (6, 14)  # the def line, not the decorator; no trailing comment line
    assert top.code.startswith("def top(a, b=1):") and top.code.endswith("return a + b  # trailing comment")
    assert top.docstring == "Add things.\n\nDetail:\n    indented more."
    get = functions[1]
    assert get.code == "    def get(self, key):\n        return self.data[key]"  # the method's indentation kept
    assert (get.start_line, get.end_line, get.docstring) == (21, 22, "")
    assert functions[-1].docstring == "One-quoted docstring."


def test_tree_sitter_reads_what_ast_reads_the_same_way():
    assert extract_with_tree_sitter(MODULE) == extract_with_ast(MODULE)


def test_both_parsers_agree_on_every_file_of_this_package():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    total = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        by_ast = extract_with_ast(text)
        assert extract_with_tree_sitter(text) == by_ast, path
        total += len(by_ast)
    assert total > 300


PYTHON2 = textwrap.dedent(
    '''\
    # -*- coding: latin-1 -*-
    def shout(name):
        u"""Say hello, loudly."""
        print "HELLO", name.upper()
        return `name`


    class Old:
        def run(self):
            try:
                exec "x = 1"
            except Exception, error:
                print >>sys.stderr, error
    '''
)


def test_python2_is_read_by_the_tree_sitter_fallback():
    with pytest.raises(SyntaxError):
        extract_with_ast(PYTHON2)
    functions, parser = extract_functions(PYTHON2)
    assert parser == "tree-sitter"
    assert functions == [
        Extracted(
            "shout",
            2,
            5,
            'def shout(name):\n    u"""Say hello, loudly."""\n    print "HELLO", name.upper()\n    return `name`',
            "Say hello, loudly.",
        ),
        Extracted(
            "Old.run",
            9,
            13,
            '    def run(self):\n        try:\n            exec "x = 1"\n        except Exception, error:\n'
            "            print >>sys.stderr, error",
            "",
        ),
    ]


def test_a_file_neither_parser_reads_fails_with_the_line_python_names():
    text = "def fine():\n    return 1\n\n\ndef broken(:\n    pass\n"
    with pytest.raises(ParseFailure) as failure:
        extract_functions(text)
    assert failure.value.line == 5


def test_form_feeds_do_not_shift_lines():
    text = "def a():\n    pass\n\x0c\ndef b():\n    return 2\n"
    assert [(f.func_name, f.start_line) for f in extract_functions(text)[0]] == [("a", 1), ("b", 4)]
    assert extract_with_tree_sitter(text) == extract_with_ast(text)


@pytest.mark.parametrize(
    "remote, expected",
    [
        ("https://github.com/acme/demo.git", ("https://github.com/acme/demo", "acme/demo")),
        ("git@github.com:acme/demo.git", ("https://github.com/acme/demo", "acme/demo")),
        (
            "ssh://git@gitlab.example.com:2222/group/sub/demo.git",
            ("https://gitlab.example.com/group/sub/demo", "group/sub/demo"),
        ),
        ("https://user:token@github.com/acme/demo", ("https://github.com/acme/demo", "acme/demo")),
        ("/srv/git/demo.git", None),
        ("", None),
    ],
)
def test_web_pages_of_remotes(remote, expected):
    assert web_of_remote(remote) == expected


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


def make_repo(folder: Path) -> Path:
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "test@example.com")
    git(folder, "config", "user.name", "Test")
    (folder / "pkg").mkdir()
    (folder / "pkg" / "a.py").write_text("def a():\n    return 1\n")
    (folder / "pkg" / "b.py").write_text("def b():\n    return 2\n")
    (folder / "ignored_out").mkdir()
    (folder / "ignored_out" / "gen.py").write_text("def generated():\n    pass\n")
    (folder / ".gitignore").write_text("ignored_out/\n")
    (folder / "env").mkdir()
    (folder / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (folder / "env" / "lib.py").write_text("def installed():\n    pass\n")
    (folder / "blob.py").write_bytes(b"\x00\x01binary")
    (folder / "huge.py").write_text("x = 1\n" * (MAX_FILE_BYTES // 6 + 1))
    git(folder, "add", "pkg", ".gitignore", "blob.py", "huge.py")
    git(folder, "commit", "-q", "-m", "one")
    return folder


def test_a_git_checkout_lists_what_git_shows_less_environments_binaries_and_huge_files(tmp_path):
    repo = make_repo(tmp_path / "demo")
    (repo / "pkg" / "new.py").write_text("def new():\n    pass\n")  # untracked, not ignored: indexed
    found = walk(open_checkout(repo))
    assert [f.path for f in found.files] == ["pkg/a.py", "pkg/b.py", "pkg/new.py"]
    assert found.binary == ["blob.py"] and found.huge == ["huge.py"]
    assert read_source(found.files[0])[0] == "def a():\n    return 1\n"


def test_a_plain_folder_is_walked_without_build_and_environment_folders(tmp_path):
    folder = tmp_path / "plain"
    for name in ("src/m.py", "build/lib/m.py", "dist/m.py", "__pycache__/m.py", "site/m.py", "venv2/m.py"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("def m():\n    pass\n")
    (folder / "venv2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    checkout = open_checkout(folder)
    assert not checkout.git and checkout.repo == "plain"
    assert [f.path for f in walk(checkout).files] == ["site/m.py", "src/m.py"]
    assert checkout.url("src/m.py", 1, 2) == f"{(folder / 'src/m.py').resolve().as_uri()}#L1-L2"


def test_links_go_to_the_remote_only_for_pushed_unchanged_files(tmp_path):
    repo = make_repo(tmp_path / "demo")
    git(repo, "remote", "add", "origin", "git@github.com:acme/demo.git")
    commit = git(repo, "rev-parse", "HEAD").strip()
    unpushed = open_checkout(repo)
    assert unpushed.repo == "acme/demo" and unpushed.url("pkg/a.py", 1, 2).startswith("file:///")
    git(repo, "update-ref", "refs/remotes/origin/main", commit)  # as a push would leave it, without a network
    git(repo, "branch", "--set-upstream-to=origin/main")
    (repo / "pkg" / "b.py").write_text("def b():\n    return 3\n")
    checkout = open_checkout(repo)
    assert checkout.url("pkg/a.py", 1, 2) == f"https://github.com/acme/demo/blob/{commit}/pkg/a.py#L1-L2"
    assert checkout.url("pkg/b.py", 1, 2) == f"{(repo / 'pkg/b.py').resolve().as_uri()}#L1-L2"  # edited since
    inside = open_checkout(repo / "pkg")  # a folder inside the checkout: paths stay repository paths
    assert [f.path for f in walk(inside).files] == ["pkg/a.py", "pkg/b.py"]
    assert inside.url("pkg/a.py", 1, 2) == checkout.url("pkg/a.py", 1, 2)
