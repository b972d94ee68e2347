"""Searching a codebase: units that cover every line, the benchmark's scorer on hand-computed cases, the
arrangement of candidates, and against the real node: definitions first, implementation above tests,
files diverse, identical rankings after a rebuild, and `hybrid eval-codebase` on a folder made here."""

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import delete_indices

from hybrid_search.cli import cli
from hybrid_search.data.roles import path_role
from hybrid_search.data.units import extract_units
from hybrid_search.es import indexing
from hybrid_search.evaluation.codebase import (
    Located,
    Target,
    covered_targets,
    load_benchmark,
    ndcg_at,
    path_matches,
    target_ranks,
)
from hybrid_search.pipeline.source import sync_source
from hybrid_search.retrieval import make_retriever
from hybrid_search.retrieval.base import Hit
from hybrid_search.retrieval.codebase import CodebaseParams, arrange, symbol_of

SHARED_SRC = Path(__file__).resolve().parents[2] / "shared" / "semble-dev" / "src"

MODULE = '''\
"""Cookie handling for the client."""
import time

DEFAULT_DOMAIN = "example.com"


# Kept for callers of the old name.
def make_cookie(name, value):
    """Create a cookie."""
    return Cookie(name, value)


@register
class CookieJar(dict):
    """A jar that stores cookies per domain."""

    policy = "strict"

    def set(self, name, value):
        """Store a cookie."""
        self[name] = value

    class Policy:
        def allows(self, domain):
            return True


__all__ = ["CookieJar", "make_cookie"]
'''


# ---------------------------------------------------------------- units


def covered_lines(text: str) -> set[int]:
    units, _ = extract_units(text)
    return {line for unit in units for line in range(unit.start_line, unit.end_line + 1)}


def test_units_are_modules_functions_classes_and_methods_covering_every_line():
    units, parser = extract_units(MODULE)
    assert parser == "ast"
    described = [(u.kind, u.func_name, u.start_line, u.end_line) for u in units]
    assert described == [
        ("module", "", 1, 4),
        ("function", "make_cookie", 7, 10),  # the comment right above it is about it
        ("class", "CookieJar", 13, 25),  # from its decorator
        ("method", "CookieJar.set", 19, 21),
        ("class", "CookieJar.Policy", 23, 25),
        ("method", "CookieJar.Policy.allows", 24, 25),
        ("module", "", 28, 28),
    ]
    assert units[0].docstring == "Cookie handling for the client." and units[-1].docstring == ""
    outline = units[2].code.splitlines()  # header, docstring, attributes and member headers; no bodies
    assert outline == [
        "@register",
        "class CookieJar(dict):",
        '    """A jar that stores cookies per domain."""',
        '    policy = "strict"',
        "    def set(self, name, value):",
        "    class Policy:",
    ]
    lines = MODULE.splitlines()
    assert {i for i, line in enumerate(lines, 1) if line.strip()} <= covered_lines(MODULE)


def test_a_python2_file_is_covered_by_its_functions_and_module_units():
    text = 'import os\nprint "start"\n\ndef shout(name):\n    print "HELLO", name\n\nVERSION = 2\n'
    units, parser = extract_units(text)
    assert parser == "tree-sitter"
    assert [(u.kind, u.start_line, u.end_line) for u in units] == [
        ("module", 1, 2),
        ("function", 4, 5),
        ("module", 7, 7),
    ]


@pytest.mark.skipif(not SHARED_SRC.is_dir(), reason="needs ../shared/semble-dev")
def test_every_non_blank_line_of_real_repositories_belongs_to_a_unit():
    files = sorted(SHARED_SRC.rglob("*.py"))
    assert len(files) > 100
    for file in files:
        text = file.read_text()
        blank_or_covered = covered_lines(text) | {i for i, line in enumerate(text.splitlines(), 1) if not line.strip()}
        assert set(range(1, len(text.splitlines()) + 1)) <= blank_or_covered, file


# ---------------------------------------------------------------- the benchmark's scorer


def test_path_and_span_matching():
    assert path_matches("src/flask/app.py", "src/flask/app.py")
    assert path_matches("src/flask/sansio/app.py", "sansio/app.py") and path_matches("app.py", "src/flask/app.py")
    assert not path_matches("src/flask/myapp.py", "app.py")
    target = Target("models.py", 315, 364)
    assert target_ranks([Located("models.py", 1, 314), Located("models.py", 364, 400)], [target]) == [2]
    assert target_ranks([Located("models.py", 365, 400)], [target]) == []


def test_ndcg_on_hand_computed_cases():
    results = [Located("a.py", 1, 9), Located("b.py", 1, 5), Located("a.py", 10, 20), Located("c.py", 1, 3)]
    targets = [Target("c.py"), Target("a.py"), Target("missing.py")]
    assert target_ranks(results, targets) == [4, 1]
    # covered: c.py and a.py are indexed, missing.py is not -> ideal is two hits at ranks 1 and 2
    units = [*results, Located("d.py", 1, 2)]
    assert covered_targets(units, targets) == 2
    dcg = 1 + 1 / math.log2(5)
    assert ndcg_at([4, 1], 2, 10) == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert ndcg_at([4, 1], 3, 10) == pytest.approx(dcg / (1 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert ndcg_at([4, 1], 2, 3) == pytest.approx(1 / (1 + 1 / math.log2(3)))  # rank 4 is past k
    assert ndcg_at([], 0, 10) == 0.0 and ndcg_at([1], 1, 10) == 1.0


def test_a_benchmark_folder_is_read_or_refused_in_one_line(tmp_path):
    from hybrid_search import HybridError

    with pytest.raises(HybridError, match="not a codebase benchmark folder"):
        load_benchmark(tmp_path)
    folder = make_benchmark(tmp_path, "demo")
    repos, tasks = load_benchmark(folder)
    assert [(r.name, r.root) for r in repos] == [("demo", "src/demo")]
    assert tasks[2].targets == (Target("src/demo/jar.py", 13, 20),) and tasks[2].category == "symbol"


# ---------------------------------------------------------------- the arrangement


def hit(doc_id: str, path: str, score: float, line: int = 1) -> Hit:
    return Hit(doc_id, "", score, {"path": path, "start_line": line})


def test_file_evidence_lifts_a_file_and_diversity_spreads_the_first_page():
    hits = [hit("a1", "a.py", 10.0), hit("a2", "a.py", 9.0), hit("a3", "a.py", 9.0), hit("b1", "b.py", 10.5)]
    plain = CodebaseParams(coherence=0.0, same_file_decay=1.0)
    assert [h.doc_id for h in arrange(hits, plain, 4)] == ["b1", "a1", "a2", "a3"]
    lifted = CodebaseParams(coherence=0.2, same_file_decay=1.0)  # a.py: three strong units
    assert [h.doc_id for h in arrange(hits, lifted, 4)] == ["a1", "b1", "a2", "a3"]
    diverse = CodebaseParams(coherence=0.0, same_file_decay=0.5)
    ranked = arrange(hits, diverse, 4)
    assert [h.doc_id for h in ranked] == ["b1", "a1", "a2", "a3"] and ranked[2].score == pytest.approx(4.5)
    more = [*hits, hit("c1", "c.py", 5.0)]
    assert [h.doc_id for h in arrange(more, diverse, 3)] == ["b1", "a1", "c1"]


def test_ties_are_broken_by_path_then_line_whatever_the_input_order():
    hits = [hit("x", "b.py", 1.0, 5), hit("y", "a.py", 1.0, 9), hit("z", "a.py", 1.0, 2)]
    params = CodebaseParams(coherence=0.0, same_file_decay=1.0)
    assert [h.doc_id for h in arrange(hits, params, 3)] == ["z", "y", "x"]
    assert [h.doc_id for h in arrange(hits[::-1], params, 3)] == ["z", "y", "x"]


def test_symbol_queries_and_path_roles():
    for symbol in ("HTTPAdapter", "field_validator", "Session.send", "_private", "URL", "Flask"):
        assert symbol_of(f" {symbol} ") == symbol
    for words in ("session", "how are routes registered", "g", "read a csv file"):
        assert symbol_of(words) == ""
    roles = {
        "pkg/core.py": "code",
        "tests/test_core.py": "test",
        "pkg/testing.py": "code",
        "conftest.py": "test",
        "core_test.py": "test",
        "docs/examples/app.py": "example",
        "pkg/_compat.py": "compat",
        "pkg/compat/py2.py": "compat",
        "pkg/_vendor/six.py": "vendored",
        "pkg/__init__.py": "reexport",
    }
    assert {path: path_role(path) for path in roles} == roles


# ---------------------------------------------------------------- against the real node

FOLDER = {
    "pkg/__init__.py": "from pkg.jar import CookieJar\n",
    "pkg/jar.py": MODULE,
    "pkg/sessions.py": (
        '"""Sessions keep settings across requests."""\n\n\nclass Session:\n    """A session that sends '
        'requests."""\n\n    def send(self, request):\n        """Send a request, storing its cookies in the '
        'jar."""\n        return self.jar.set(request.name, request.value)\n'
    ),
    "tests/test_jar.py": (
        "from pkg.jar import CookieJar\n\n\ndef test_cookie_jar_stores_cookies():\n    jar = CookieJar()\n"
        "    jar.set('cookie', 'cookies')  # cookie jar cookie storage cookies stores cookie\n"
        "    assert jar['cookie'] == 'cookies'\n"
    ),
}


@pytest.fixture
def folder(tmp_path, index_name) -> Path:
    root = tmp_path / index_name
    for name, text in FOLDER.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def paths_of(ranking) -> list[str]:
    return [h.source["path"] for h in ranking.hits]


def test_definitions_first_implementation_above_tests_and_files_diverse(es, folder, index_name, paths):
    sync_source(es, folder, index_name, progress=False)
    lexical = make_retriever(es, index_name, "lexical", paths=paths)
    first = lexical.search("CookieJar", k=5).hits[0]
    assert (first.source["path"], first.func_name, first.source["kind"]) == ("pkg/jar.py", "CookieJar", "class")
    stored = lexical.search("cookie jar storage", k=5)
    assert paths_of(stored)[0] == "pkg/jar.py"
    assert paths_of(stored).index("tests/test_jar.py") > paths_of(stored).index("pkg/jar.py")
    assert len(set(paths_of(stored)[:3])) == 3  # three files before a second unit of any
    module = lexical.search("cookie handling for the client", k=3).hits[0]
    assert (module.func_name, module.source["kind"], module.source["start_line"]) == ("pkg.jar", "module", 1)


def test_rebuilding_the_same_folder_ranks_the_same(es, tmp_path, index_name, paths, trained):
    from hybrid_search.encoder.encoder import Encoder

    root = tmp_path / index_name
    root.mkdir()
    for i in range(40):  # many units that score alike: the order among them is the tie-break
        (root / f"helper_{i:02d}.py").write_text(f"def helper():\n    '''Return the helper value.'''\n    return {i}\n")
    encoder = Encoder.load(trained[3])
    queries = ["helper", "return the helper value", "value"]

    def rankings() -> dict:
        found = {}
        for mode in ("baseline", "lexical", "dense", "hybrid"):
            retriever = make_retriever(es, index_name, mode, paths=paths)
            for query in queries:
                found[(mode, query)] = [
                    (h.source["path"], round(h.score, 6)) for h in retriever.search(query, k=30).hits
                ]
        return found

    sync_source(es, root, index_name, encoder=encoder, progress=False)
    before = rankings()
    assert sync_source(es, root, index_name, encoder=encoder, rebuild=True, progress=False).created
    assert rankings() == before
    tied = before[("lexical", "helper")]
    assert [path for path, _ in tied[:3]] == ["helper_00.py", "helper_01.py", "helper_02.py"]
    assert tied[0][1] == tied[2][1]  # a tie, broken by path


def make_benchmark(tmp_path: Path, name: str) -> Path:
    """A semble-style folder with one repository (`name`) whose code lives under src/<name>/src/<name>."""
    folder = tmp_path / "bench"
    code = folder / "src" / name / "src" / "demo"
    for file, text in {"jar.py": MODULE, "sessions.py": FOLDER["pkg/sessions.py"]}.items():
        code.mkdir(parents=True, exist_ok=True)
        (code / file).write_text(text)
    (folder / "annotations").mkdir(parents=True)
    (folder / "repos.json").write_text(json.dumps([{"name": name, "benchmark_root": "src/demo"}]))
    queries = [
        {"query": "cookie storage per domain", "relevant": ["src/demo/jar.py"], "category": "semantic"},
        {"query": "how are requests sent", "relevant": ["src/demo/sessions.py"], "secondary": ["src/demo/jar.py"]},
        {
            "query": "CookieJar",
            "relevant": [{"path": "src/demo/jar.py", "start_line": 13, "end_line": 20}],
            "category": "symbol",
        },
    ]
    (folder / "annotations" / f"{name}.json").write_text(json.dumps(queries))
    return folder


def test_eval_codebase_indexes_each_repository_and_scores_each_mode(es, es_settings, tmp_path, index_name, monkeypatch):
    monkeypatch.setenv("HYBRID_MODELS", str(tmp_path / "no-models"))  # lexical modes only, whatever is trained
    folder = make_benchmark(tmp_path, index_name)
    out = tmp_path / "out"
    command = ["--es-url", es_settings.url, "eval-codebase", str(folder), "--modes", "lexical,baseline"]
    try:
        for _ in range(2):  # a second run builds anew and deletes the first run's version
            result = CliRunner().invoke(cli, [*command, "--out", str(out), "--no-progress"])
        versions = indexing.versions(es, f"bench-{index_name}")
    finally:
        delete_indices(es, f"bench-{index_name}")
    assert len(versions) == 1, versions
    assert result.exit_code == 0, result.output
    assert f"| lexical | {index_name} |" in result.output and "| lexical | symbol | 1 |" in result.output
    written = json.loads((out / "results.json").read_text())
    assert written["builds"][0]["units"] == 10  # jar.py's 7 units, sessions.py's module, class and method
    lexical = {q["query"]: q for q in written["queries"] if q["mode"] == "lexical"}
    assert lexical["cookie storage per domain"]["ndcg10"] == 1.0 and lexical["CookieJar"]["ndcg10"] == 1.0
    assert lexical["CookieJar"]["top"][0] == "src/demo/jar.py:13-25"
    assert lexical["how are requests sent"]["top"][0].startswith("src/demo/sessions.py")
    assert {q["mode"] for q in written["queries"]} == {"lexical", "baseline"}


def test_rerank_over_a_codebase_leaves_a_symbols_definition_first(es, folder, index_name, paths, trained, tmp_path):
    from dataclasses import replace as with_

    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.encoder.resolve import load_reranker
    from hybrid_search.es.indexing import index_meta
    from hybrid_search.retrieval.base import OpenedIndex
    from hybrid_search.retrieval.codebase import CodebaseRanked
    from hybrid_search.retrieval.hybrid import HybridRetriever
    from hybrid_search.retrieval.params import RerankParams
    from hybrid_search.retrieval.rerank import Reranker, RerankRetriever, cache_key

    sync_source(es, folder, index_name, encoder=Encoder.load(trained[3]), progress=False)
    opened = OpenedIndex(es, index_name, index_meta(es, index_name), paths)
    reranker = Reranker(load_reranker("minilm", models=tmp_path / "models"), tmp_path / "cache")
    rerank = RerankRetriever(HybridRetriever.from_index(opened), reranker, params=RerankParams(model="minilm"))
    ranked = CodebaseRanked(rerank, with_(CodebaseParams(), depth=20))
    first = ranked.search("CookieJar", k=3).hits[0]
    assert (first.source["path"], first.func_name, first.source["kind"]) == ("pkg/jar.py", "CookieJar", "class")
    assert reranker.cache.get_many([cache_key(first)]) == {}  # a symbol is not re-ranked: nothing was embedded
    words = ranked.search("cookie jar storage", k=3).hits
    assert words and reranker.cache.get_many([cache_key(h) for h in words])  # words are
