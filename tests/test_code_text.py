"""Source helpers: docstring stripping (Python 2 included), name subtokens, docstring first paragraph."""

from hybrid_search.data.code import first_paragraph, name_subtokens, strip_docstring


def test_strip_docstring_keeps_signature_comments_and_body():
    code = '@cache(size=2)\ndef f(a, b=(1, 2)) -> dict:\n    """Read a csv file.\n\n    More."""\n    # note\n    return {"a": a}\n'
    stripped = strip_docstring(code)
    assert "Read a csv" not in stripped and "More." not in stripped
    assert (
        stripped.startswith("@cache(size=2)\ndef f(a, b=(1, 2)) -> dict:")
        and "# note" in stripped
        and 'return {"a": a}' in stripped
    )


def test_strip_docstring_on_python2_and_raw_strings():
    assert "doc" not in strip_docstring("def h(x):\n    r'''doc'''\n    print 'hi'\n    return `x`\n")
    assert "print 'hi'" in strip_docstring("def h(x):\n    r'''doc'''\n    print 'hi'\n")


def test_no_docstring_leaves_code_unchanged():
    code = "def g(x):\n    y = 'not a docstring' if x else ''\n    return y\n"
    assert strip_docstring(code) == code
    assert strip_docstring("def broken(:\n  '''unclosed") == "def broken(:\n  '''unclosed"


def test_name_subtokens_split_camel_snake_dotted_and_digits():
    assert name_subtokens("Class.readCsvFile_v2") == "Class read Csv File v 2"
    assert name_subtokens("HTTPServer.start") == "HTTP Server start"


def test_first_paragraph():
    assert first_paragraph("  Read a\n  csv file.\n\n  Args:\n    x") == "Read a csv file."


def test_without_summary_keeps_the_rest_of_the_docstring_only():
    from hybrid_search.data.types import Function

    function = Function("u", "r", "p.py", "f", "def f():\n    pass", docstring="Read a file.\n\n  Args:\n    x: y.")
    assert function.without_summary().docstring == "Args:\n    x: y."
    assert function.masked().docstring == "" and function.without_summary().code == function.code
    assert Function("u", "r", "p.py", "f", "", docstring="One line only.").without_summary().docstring == ""
