"""Corpus readers: both JSON formats, the dedupe pickle, and bad input reported with file:line."""

import pickle

import pytest
from helpers import SHARED, make_function, write_jsonl_gz

from hybrid_search import HybridError
from hybrid_search.data.corpus import DataError, ReadReport, corpus_files, read_corpus, read_jsonl


def test_reads_shared_format_and_official_format(tmp_path):
    shared = make_function(1, "load", "Load it.", "return 1\nreturn 2")
    official = {
        "repo": "o/r",
        "path": "p.py",
        "func_name": "C.run",
        "original_string": "def run(self):\n    pass",
        "language": "python",
        "code": "def run(self):\n    pass",
        "code_tokens": ["def"],
        "docstring": "",
        "docstring_tokens": [],
        "sha": "b" * 40,
        "partition": "valid",
        "url": f"https://github.com/o/r/blob/{'b' * 40}/p.py#L3-L4",
    }
    path = write_jsonl_gz(tmp_path / "c.jsonl.gz", [shared, official])
    report = ReadReport()
    functions = list(read_jsonl(path, report))
    assert [f.func_name for f in functions] == ["load", "C.run"]
    assert (functions[1].start_line, functions[1].end_line, functions[1].partition) == (3, 4, "valid")
    assert report.read == 2 and report.skipped == 0


def test_bad_lines_are_skipped_counted_and_located(tmp_path):
    good = make_function(1, "ok", "Fine.", "return 1")
    no_url = {k: v for k, v in make_function(2, "nourl", "x", "y").items() if k != "url"}
    wrong_type = {**make_function(3, "wrong", "x", "y"), "docstring": 42}
    path = write_jsonl_gz(
        tmp_path / "bad.jsonl.gz",
        [good, no_url, wrong_type],
        raw_lines=[b"{not json", b'{"url": "\xff\xfe"}', b"[1, 2]"],
    )
    report = ReadReport()
    functions = list(read_jsonl(path, report))
    assert [f.func_name for f in functions] == ["ok"]
    assert report.skipped == 5
    text = "\n".join(report.problems)
    for line, reason in [
        (2, "url"),
        (3, "docstring"),
        (4, "malformed JSON"),
        (5, "invalid UTF-8"),
        (6, "not a JSON object"),
    ]:
        assert f"bad.jsonl.gz:{line}: " in text and reason in text.split(f"bad.jsonl.gz:{line}: ")[1].split("\n")[0]


def test_strict_mode_stops_at_first_bad_line(tmp_path):
    path = write_jsonl_gz(tmp_path / "bad.jsonl.gz", [make_function(1, "ok", "d", "c")], raw_lines=[b"oops"])
    with pytest.raises(DataError, match=r"bad.jsonl.gz:2: malformed JSON"):
        list(read_jsonl(path, ReadReport(), strict=True))


def test_truncated_gzip_keeps_what_was_read_and_reports_it(tmp_path):
    records = [make_function(i, f"f{i}", "doc string here", "x = 1\n" * 50) for i in range(200)]
    path = write_jsonl_gz(tmp_path / "t.jsonl.gz", records)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    report = ReadReport()
    functions = list(read_jsonl(path, report))
    assert 0 < len(functions) < 200
    assert report.skipped == 1 and "truncated or corrupt gzip" in report.problems[0]


def test_missing_file_and_empty_folder_give_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="data not found"):
        corpus_files(tmp_path / "nope")
    with pytest.raises(DataError, match="no corpus files"):
        corpus_files(tmp_path)


def test_dedupe_pickle_with_partitions_from_splits(tmp_path):
    url = f"https://github.com/o/r/blob/{'c' * 40}/m.py#L1-L3"
    definitions = [
        {
            "nwo": "o/r",
            "path": "m.py",
            "identifier": "m.f",
            "function": "def f():\n    return 1\n",
            "docstring": "",
            "url": url,
            "language": "python",
            "function_tokens": ["def", "f"],
        },
        {"nwo": "o/r", "identifier": "broken"},  # no url/path: skipped
    ]
    (tmp_path / "python_dedupe_definitions_v2.pkl").write_bytes(pickle.dumps(definitions))
    split = {
        "repo": "o/r",
        "path": "m.py",
        "func_name": "m.f",
        "code": "def f(): pass",
        "url": url,
        "partition": "test",
    }
    write_jsonl_gz(tmp_path / "python" / "final" / "jsonl" / "test" / "python_test_0.jsonl.gz", [split])
    report = ReadReport()
    functions = list(read_corpus(tmp_path, report))
    assert len(functions) == 1 and report.skipped == 1
    assert (functions[0].repo, functions[0].sha, functions[0].partition) == ("o/r", "c" * 40, "test")


def test_shared_shard_first_records_parse():
    path = min((SHARED / "corpus").glob("*.jsonl.gz"))
    report = ReadReport()
    functions = [f for _, f in zip(range(200), read_jsonl(path, report))]
    assert len(functions) == 200 and report.skipped == 0
    assert all(f.url.startswith("https://github.com/") and f.partition in {"train", "valid", "test"} for f in functions)


def test_a_damaged_download_is_one_line_and_nothing_half_unpacked(tmp_path):
    from hybrid_search.data.download import download_official

    for name in ("queries.csv", "annotationStore.csv"):
        (tmp_path / name).write_text("already here\n")
    (tmp_path / "python.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(HybridError, match=r"python.zip is damaged .*delete it and run the command again"):
        download_official(tmp_path, echo=lambda *_: None)
    assert not (tmp_path / "python").exists()
