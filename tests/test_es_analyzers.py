"""The analyzers of es_mappings/functions.json, checked through the real node's `_analyze`."""

import pytest

from hybrid_search.es.mappings import index_body


@pytest.fixture
def analysis_index(es, index_name):
    body = index_body()
    es.indices.create(index=index_name, settings=body["settings"], mappings=body["mappings"])
    return index_name


def tokens(es, index, text, analyzer=None, field=None):
    kwargs = {"analyzer": analyzer} if analyzer else {"field": field}
    return [t["token"] for t in es.indices.analyze(index=index, text=text, **kwargs)["tokens"]]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("readCsvFile", {"readcsvfile", "read", "csv", "file"}),
        ("read_csv", {"read_csv", "read", "csv"}),
        ("os.path.join(a)", {"os.path.join", "os", "path", "join", "a"}),
        ("parseHttpServer2", {"parsehttpserver2", "parse", "http", "server", "2"}),
        ("df = pd.read_csv(f)", {"df", "pd.read_csv", "pd", "read", "csv", "f"}),
    ],
)
def test_code_analyzer_splits_identifiers_and_keeps_the_original(es, analysis_index, text, expected):
    assert set(tokens(es, analysis_index, text, analyzer="code")) == expected


def test_code_fields_use_the_code_analyzer(es, analysis_index):
    assert set(tokens(es, analysis_index, "parseJsonConfig", field="func_name")) == {
        "parsejsonconfig",
        "parse",
        "json",
        "config",
    }
    assert "load" in tokens(es, analysis_index, "json.loads(x)", field="body.stem")


def test_docstring_english_analyzer_stems_and_drops_stop_words(es, analysis_index):
    assert tokens(es, analysis_index, "Reads the files of a Directory", field="docstring") == [
        "read",
        "file",
        "directori",
    ]


def test_baseline_fields_use_the_standard_analyzer(es, analysis_index):
    assert tokens(es, analysis_index, "read Csv File", field="name_subtokens") == ["read", "csv", "file"]
    assert tokens(es, analysis_index, "pd.read_csv(f)", field="code") == ["pd.read_csv", "f"]
