"""Query understanding: lemmas, stop words and identifier-style variants, and the clauses they add."""

from hybrid_search.es.queries import lexical_search
from hybrid_search.retrieval.params import LexicalParams
from hybrid_search.retrieval.query import identifier_variants, query_variants


def test_identifier_variants_join_adjacent_words():
    assert identifier_variants(["read", "csv", "file"]) == (
        "read_csv",
        "readcsv",
        "csv_file",
        "csvfile",
        "read_csv_file",
        "readcsvfile",
    )
    assert identifier_variants(["sort"]) == ()


def test_query_variants_drop_stop_words_and_lemmatise():
    variants = query_variants("Reading the CSV files into a data frame")
    assert variants.lemmas.split()[:3] == ["read", "csv", "file"]
    assert "the" not in variants.lemmas and "into" not in variants.lemmas
    for expected in ("read_csv", "readcsv", "data_frame", "dataframe", "read_csv_file"):
        assert expected in variants.identifiers
    assert query_variants("") == query_variants("   the of a ")


def test_variant_clauses_only_when_boosted():
    common = {"fields": ["func_name^4", "body"], "type": "best_fields", "size": 5}
    plain = lexical_search("read csv", **common, lemmas="read csv", identifiers=("read_csv",))["query"]
    assert list(plain) == ["multi_match"]
    boosted = lexical_search(
        "read csv",
        **common,
        lemmas="read csv",
        lemma_boost=0.5,
        identifiers=("read_csv", "readcsv"),
        identifier_boost=2.0,
    )["query"]
    should = boosted["bool"]["should"]
    assert {"term": {"func_name": {"value": "read_csv", "boost": 2.0}}} in should
    assert any("multi_match" in clause and clause["multi_match"].get("boost") == 0.5 for clause in should)
    assert should[0] == plain and list(boosted["bool"]) == ["should"]  # one flat disjunction: no clause required


def test_identifier_clause_matches_whole_name_tokens(es, tiny_data, index_name):
    from hybrid_search.pipeline.build import build_index
    from hybrid_search.retrieval.lexical import LexicalRetriever

    build_index(es, tiny_data, index_name, progress=False)
    params = LexicalParams(fields={"body": 1.0}, identifier_boost=10.0, lemma_boost=0.0)
    hits = LexicalRetriever(es, index_name, params=params).search("reading a csv file", k=2).hits
    assert hits[0].func_name == "read_csv_file"
    explained = es.search(index=index_name, query={"term": {"func_name": "read_csv_file"}})["hits"]["hits"]
    assert [h["_source"]["func_name"] for h in explained] == ["read_csv_file"]


def test_web_words_are_dropped_but_never_the_whole_query():
    from hybrid_search.retrieval.query import without_web_words

    assert without_web_words("how to prevent a file from modifying python") == "prevent a file from modifying"
    assert without_web_words("python 3 remove directory recursively") == "remove directory recursively"
    assert without_web_words("How do I read a CSV in Python") == "read a CSV"
    assert without_web_words("join list of strings with character python") == "join list of strings with character"
    assert without_web_words("convert int to string") == "convert int to string"
    assert without_web_words("python") == "python"


def test_lexical_body_without_web_words_only_when_asked():
    from hybrid_search.retrieval.lexical import LexicalRetriever

    off = {"lemma_boost": 0.0, "identifier_boost": 0.0}
    plain = LexicalRetriever(None, "x", params=LexicalParams(**off, drop_web_words=False))
    dropping = LexicalRetriever(None, "x", params=LexicalParams(**off, drop_web_words=True))
    query = "how to read a csv file in python"
    assert plain.body(query, k=5)["query"]["multi_match"]["query"] == query
    assert dropping.body(query, k=5)["query"]["multi_match"]["query"] == "read a csv file"
