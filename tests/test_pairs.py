"""CodeSearchNet's pair filters on crafted functions."""

from collections import Counter

from helpers import make_function

from hybrid_search.data.corpus import function_from_record
from hybrid_search.data.pairs import make_pairs, rejection

BODY = "x = 1\ny = 2\nreturn x + y"


def fn(name="add_numbers", doc="Add two numbers together.", body=BODY, path=None, i=1):
    record = make_function(i, name, doc, body)
    if path:
        record["path"] = path
    return function_from_record(record)


def test_each_filter_rejects_its_case():
    assert rejection(fn(), set()) is None
    assert rejection(fn(), {fn().url}) == "annotated"
    assert rejection(fn(path="tests/test_math.py"), set()) == "test"
    assert rejection(fn(path="pkg/math_test.py"), set()) == "test"
    assert rejection(fn(name="TestMath.test_add"), set()) == "test"
    assert rejection(fn(name="Vector.__add__", doc=""), set()) == "dunder"
    assert rejection(fn(name="Vector.__add__", doc="Add two vectors element-wise."), set()) is None
    assert rejection(fn(doc="Adds."), set()) == "short_docstring"
    assert rejection(fn(body="return 1"), set()) == "short_code"
    assert rejection(fn(name="latest_version"), set()) is None  # "test" inside a word is not a test


def test_pairs_strip_the_docstring_and_drop_duplicates():
    removed = Counter()
    functions = [fn(i=1), fn(i=2, doc="Same code, other words here."), fn(i=3, body="a = 1\nb = 2\nreturn a - b")]
    pairs = list(make_pairs(functions, set(), removed))
    assert len(pairs) == 2 and removed == Counter({"duplicate": 1})
    assert pairs[0].query == "Add two numbers together." and "Add two numbers" not in pairs[0].code
    assert "return x + y" in pairs[0].code


def test_a_docstring_reading_pair_keeps_the_paragraphs_after_the_query_with_the_code():
    from hybrid_search.data.pairs import with_docstring_rest

    doc = "Add two numbers together.\n\nArgs:\n    x: the first\n\n    y: the second"
    plain = next(make_pairs([fn(doc=doc)], set()))
    pair = with_docstring_rest(plain)
    assert pair.query == "Add two numbers together."
    assert pair.code == "Args:\n    x: the first\n\n    y: the second\n" + plain.code
    assert "Add two numbers" not in pair.code  # the query never sits on the code side
    single = next(make_pairs([fn()], set()))
    assert with_docstring_rest(single).code == single.code  # one paragraph: the code side reads code only
