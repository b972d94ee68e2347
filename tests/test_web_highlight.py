"""Matched terms from ES highlights, marked in names and syntax-highlighted code, HTML-safely (pure functions)."""

from hybrid_search.es.queries import MARK_END, MARK_START
from hybrid_search.web.highlight import mark, matched_terms, render_code


def tagged(text: str) -> str:
    return f"{MARK_START}{text}{MARK_END}"


def test_matched_terms_are_the_lower_case_words_of_every_highlighted_span():
    highlight = {
        "code": [f"x = {tagged('pd.read_csv')}(path)  # {tagged('DataFrame')}"],
        "docstring": [f"{tagged('Reads')} {tagged('a')} file {tagged('into')} {tagged('Python')}"],
    }
    assert matched_terms(highlight) == {"pd", "read", "csv", "dataframe", "reads", "python"}  # no "a", "into"
    assert matched_terms({}) == frozenset()


def test_mark_wraps_whole_words_and_identifier_parts():
    terms = frozenset({"read", "csv", "dataframe"})
    assert mark("readCsv", terms) == "<mark>read</mark><mark>Csv</mark>"
    assert mark("pd.read_csv", terms) == "pd.<mark>read</mark>_<mark>csv</mark>"
    assert mark("DataFrame DataFrames reader", terms) == "<mark>DataFrame</mark> DataFrames reader"
    assert mark("READ_CSV_FILE", terms) == "<mark>READ</mark>_<mark>CSV</mark>_FILE"


def test_mark_escapes_html_in_text_and_terms():
    assert mark("<b>read</b> & 'x'", frozenset({"read"})) == "&lt;b&gt;<mark>read</mark>&lt;/b&gt; &amp; &#39;x&#39;"
    assert mark('<img src=x onerror="alert(1)">', frozenset()) == "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"


def test_render_code_keeps_pygments_classes_and_marks_terms_inside_them():
    html = render_code('def read_csv(path):\n    return "<csv>"\n', frozenset({"csv"}))
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">read_<mark>csv</mark></span>' in html
    assert '<span class="s2">&lt;<mark>csv</mark>&gt;</span>' in html
    assert "<csv>" not in html
