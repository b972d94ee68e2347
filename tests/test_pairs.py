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
