"""Property-based tests (hypothesis): the Python mirror of the ES code analyzer against the real node's
`_analyze`, and the NDCG evaluator's invariants."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hybrid_search.data.code import name_subtokens
from hybrid_search.encoder.tokenize import subtokens
from hybrid_search.es.mappings import index_body
from hybrid_search.evaluation.ndcg import evaluate_ndcg, query_ndcg

ES_EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PURE_EXAMPLES = settings(max_examples=300, deadline=None)

IDENTIFIER_CHARS = "abcdefxyzABCDEFXYZ0123456789_."
SEPARATORS = st.text(alphabet=" \t\n()[]{}=,:;+-*/'\"#@!?<>|&%$~`^\\éß日\u00a0", min_size=1, max_size=3)
identifiers = st.text(alphabet=IDENTIFIER_CHARS, min_size=1, max_size=24)
code_like = st.lists(st.tuples(identifiers, SEPARATORS), min_size=1, max_size=6).map(
    lambda parts: "".join(word + sep for word, sep in parts)
)


@pytest.fixture(scope="module")
def analysis_index(es):
    name = f"test-props-{uuid.uuid4().hex[:10]}"
    body = index_body()
    es.indices.create(index=name, settings=body["settings"], mappings=body["mappings"])
    yield name
    es.indices.delete(index=name)


def analyze(es, index: str, text: str, **how) -> list[str]:
    return [t["token"] for t in es.indices.analyze(index=index, text=text, **how)["tokens"]]


def code_parts(es, index: str, text: str) -> list[str]:
    """The code analyzer's word-delimiter parts, case kept: each word's parts, or the word if it is one part."""
    words = es.indices.analyze(index=index, tokenizer="code_tokenizer", text=text)["tokens"]
    tokens = es.indices.analyze(index=index, tokenizer="code_tokenizer", filter=["code_parts"], text=text)["tokens"]
    parts: list[str] = []
    for word in words:
        start, end = word["start_offset"], word["end_offset"]
        inner = [
            t["token"]
            for t in tokens
            if start <= t["start_offset"]
            and t["end_offset"] <= end
            and (t["start_offset"], t["end_offset"]) != (start, end)
        ]
        parts += inner or ([word["token"]] if re.search("[A-Za-z0-9]", word["token"]) else [])
    return parts


def test_the_code_analyzer_is_word_delimiter_parts_then_lowercase():
    assert index_body()["settings"]["analysis"]["analyzer"]["code"]["filter"][:2] == ["code_parts", "lowercase"]


@ES_EXAMPLES
@given(text=code_like)
def test_python_subtokens_mirror_the_code_analyzer(es, analysis_index, text):
    """Python's sub-tokens are ES's word-delimiter parts, lower-cased, with one documented refinement: an
    upper-case run before a capitalised word is split off (`HTTPServer`: ES part `HTTPServer`, ours http server)."""
    parts = code_parts(es, analysis_index, text)
    assert [token for part in parts for token in subtokens(part)] == subtokens(text)
    assert {part.lower() for part in parts} <= set(analyze(es, analysis_index, text, analyzer="code"))


def test_known_difference_acronym_before_a_word(es, analysis_index):
    """The one place the mirror is finer than ES (see tokenize.py); the trained encoders depend on it."""
    assert set(analyze(es, analysis_index, "parseHTTPServer", analyzer="code")) == {
        "parsehttpserver",
        "parse",
        "httpserver",
    }
    assert subtokens("parseHTTPServer") == ["parse", "http", "server"]


@ES_EXAMPLES
@given(name=identifiers)
def test_baseline_name_subtokens_analyze_to_the_same_parts(es, analysis_index, name):
    """The baseline field indexes `name_subtokens` with the standard analyzer: one token per camel/snake part."""
    parts = [part.lower() for part in name_subtokens(name).split()]
    assert analyze(es, analysis_index, name_subtokens(name), field="name_subtokens") == parts
    assert parts == subtokens(name)


# ---------------------------------------------------------------- NDCG

GRADES = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
relevance_maps = st.dictionaries(st.sampled_from([f"u{i}" for i in range(10)]), st.sampled_from(GRADES), min_size=1)
unannotated = st.lists(st.sampled_from([f"x{i}" for i in range(10)]), unique=True, max_size=8)


def ideal_ranking(relevance: dict[str, float]) -> list[str]:
    return sorted(relevance, key=lambda url: -relevance[url])


def positive(relevance: dict[str, float]) -> bool:
    return any(grade > 0 for grade in relevance.values())


@PURE_EXAMPLES
@given(relevance=relevance_maps, extra=unannotated, data=st.data())
def test_ndcg_is_between_0_and_1_and_all_never_exceeds_within(relevance, extra, data):
    assume(positive(relevance))
    ranking = data.draw(st.permutations([*relevance, *extra]).map(lambda r: r[: len(r) // 2 + 1]))
    within = query_ndcg(ranking, relevance, within=True)
    full = query_ndcg(ranking, relevance, within=False)
    assert 0.0 <= full <= within <= 1.0 + 1e-12


@PURE_EXAMPLES
@given(relevance=relevance_maps)
def test_ideal_ranking_scores_1(relevance):
    assume(positive(relevance))
    ranking = ideal_ranking(relevance)
    assert query_ndcg(ranking, relevance, within=True) == pytest.approx(1.0)
    assert query_ndcg(ranking, relevance, within=False) == pytest.approx(1.0)


@PURE_EXAMPLES
@given(relevance=relevance_maps, extra=unannotated, data=st.data())
def test_within_ignores_unannotated_results_wherever_they_are(relevance, extra, data):
    assume(positive(relevance))
    ranking = data.draw(st.permutations(list(relevance)))
    mixed = list(ranking)
    for url in extra:
        mixed.insert(data.draw(st.integers(0, len(mixed))), url)
    assert query_ndcg(mixed, relevance, within=True) == pytest.approx(query_ndcg(ranking, relevance, within=True))
    assert query_ndcg(mixed, relevance, within=False) <= query_ndcg(ranking, relevance, within=False) + 1e-12


@PURE_EXAMPLES
@given(relevance=relevance_maps, data=st.data())
def test_promoting_a_more_relevant_result_never_lowers_ndcg(relevance, data):
    assume(positive(relevance) and len(relevance) >= 2)
    ranking = data.draw(st.permutations(list(relevance)))
    i = data.draw(st.integers(0, len(ranking) - 2))
    assume(relevance[ranking[i]] < relevance[ranking[i + 1]])
    swapped = [*ranking[:i], ranking[i + 1], ranking[i], *ranking[i + 2 :]]
    for within in (True, False):
        assert query_ndcg(swapped, relevance, within) > query_ndcg(ranking, relevance, within)


@PURE_EXAMPLES
@given(relevance=relevance_maps)
def test_unjudged_queries_are_left_out_and_unanswered_ones_score_0(relevance):
    zero = {url: 0.0 for url in relevance}
    assert query_ndcg(list(zero), zero, within=True) is None
    assume(positive(relevance))
    scores = evaluate_ndcg(
        {"answered": ideal_ranking(relevance)}, {"answered": relevance, "silent": relevance, "z": zero}
    )
    assert scores["queries"] == 2 and scores["queries_predicted"] == 1
    assert scores["per_query"]["silent"] == {"ndcg_within": 0.0, "ndcg_all": 0.0}
    assert scores["ndcg_within"] == pytest.approx(0.5) and scores["ndcg_all"] == pytest.approx(0.5)


@PURE_EXAMPLES
@given(qrels=st.dictionaries(st.sampled_from(["q1", "q2", "q3", "q4"]), relevance_maps, min_size=1), data=st.data())
def test_mean_ndcg_is_the_mean_of_the_queries(qrels, data):
    predictions = {query: data.draw(st.permutations(list(relevance))) for query, relevance in qrels.items()}
    scores = evaluate_ndcg(predictions, qrels)
    judged = [query for query, relevance in qrels.items() if positive(relevance)]
    assert sorted(scores["per_query"]) == sorted(judged)
    if judged:
        mean = sum(scores["per_query"][q]["ndcg_within"] for q in judged) / len(judged)
        assert scores["ndcg_within"] == pytest.approx(mean) and 0.0 <= scores["ndcg_within"] <= 1.0 + 1e-12
        assert scores["coverage"] == 1.0
