"""Bad input: broken corpus files, hostile queries in every mode, and malformed annotation/prediction files.

Every corpus defect is reported with file:line, skipped and counted (or stops the run with --strict); no query
crashes or is read as query syntax; a CSV with a wrong column or bytes that are not UTF-8 is one clear line.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import make_function, pair_records, write_jsonl_gz

from hybrid_search import HybridError
from hybrid_search.cli import cli
from hybrid_search.data.annotations import load_qrels, load_queries
from hybrid_search.data.corpus import MAX_CODE_BYTES, MAX_LINE_BYTES, DataError, ReadReport, read_corpus
from hybrid_search.data.predictions import read_predictions
from hybrid_search.es.queries import baseline_search, lexical_search
from hybrid_search.evaluation.ndcg import evaluate_ndcg
from hybrid_search.pipeline.build import build_index

REPO = Path(__file__).resolve().parents[1]
GOOD = [make_function(i, f"good_{i}", "A perfectly fine function.", "x = 1\nreturn x") for i in range(2)]


def truncated_gzip(path: Path) -> None:
    records = [make_function(i, f"f{i}", "doc string here", "x = 1\n" * 50) for i in range(100)]
    write_jsonl_gz(path, records)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def with_bad_line(line: bytes):
    """A shard of: good record, the bad line, good record."""

    def write(path: Path) -> None:
        with gzip.open(path, "wb") as out:
            out.write(json.dumps(GOOD[0]).encode() + b"\n" + line + b"\n" + json.dumps(GOOD[1]).encode() + b"\n")

    return write


def record_line(**changes) -> bytes:
    record = {**make_function(5, "changed", "A changed function.", "return 1\nreturn 2"), **changes}
    return json.dumps({k: v for k, v in record.items() if v is not None}).encode()


FIVE_MB = "x = 1\n" * (5_000_000 // 6)
# name -> (file name, writer, line reported, words of the reason)
DEFECTS = {
    "non-JSON line": ("a.jsonl.gz", with_bad_line(b"{not json"), 2, "malformed JSON"),
    "JSON but not an object": ("a.jsonl.gz", with_bad_line(b"[1, 2]"), 2, "not a JSON object"),
    "missing field": ("a.jsonl.gz", with_bad_line(record_line(repo=None)), 2, "missing or non-string field(s): repo"),
    "wrong type": ("a.jsonl.gz", with_bad_line(record_line(func_name=["a", "b"])), 2, "func_name"),
    "wrong type of docstring": ("a.jsonl.gz", with_bad_line(record_line(docstring=42)), 2, "docstring is not a string"),
    "invalid UTF-8": ("a.jsonl.gz", with_bad_line(b'{"url": "\xff\xfe"}'), 2, "invalid UTF-8"),
    "lone surrogate escape": ("a.jsonl.gz", with_bad_line(record_line(code="x\ud800y")), 2, "invalid Unicode"),
    "5 MB function": ("a.jsonl.gz", with_bad_line(record_line(code=FIVE_MB)), 2, "5.0 MB is over the 1 MB limit"),
    "9 MB line": ("a.jsonl.gz", with_bad_line(record_line(code_tokens=["t" * 1000] * 9000)), 2, "record over 8 MB"),
    "truncated gzip": ("a.jsonl.gz", truncated_gzip, None, "truncated or corrupt gzip"),
    "empty gzip file": ("a.jsonl.gz", lambda path: gzip.open(path, "wb").close(), 1, "empty file"),
    "zero-byte file": ("a.jsonl", lambda path: path.write_bytes(b""), 1, "empty file"),
    "only blank lines": ("a.jsonl", lambda path: path.write_bytes(b"\n  \n\n"), 1, "empty file"),
}


def defect_folder(tmp_path: Path, name: str) -> tuple[Path, Path]:
    file_name, write, _, _ = DEFECTS[name]
    folder = tmp_path / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / file_name)
    return tmp_path, folder / file_name


@pytest.mark.parametrize("name", list(DEFECTS))
def test_corpus_defect_is_located_skipped_and_counted(tmp_path, name):
    _, _, line, reason = DEFECTS[name]
    data, path = defect_folder(tmp_path, name)
    report = ReadReport()
    functions = list(read_corpus(data, report))
    assert report.skipped == 1 and len(report.problems) == 1
    where, said = report.problems[0].split(": ", 1)
    assert where.startswith(f"{path}:") and (line is None or where == f"{path}:{line}")
    assert reason in said
    if line == 2:  # the records around a bad line are read
        assert [f.func_name for f in functions] == ["good_0", "good_1"] and report.read == 2


@pytest.mark.parametrize("name", list(DEFECTS))
def test_corpus_defect_is_fatal_with_strict(tmp_path, name):
    _, _, line, reason = DEFECTS[name]
    data, path = defect_folder(tmp_path, name)
    with pytest.raises(DataError) as error:
        list(read_corpus(data, ReadReport(), strict=True))
    assert str(error.value).startswith(f"{path}:{line or ''}") and reason in str(error.value)


def test_size_limits_leave_room_for_real_functions():
    assert MAX_CODE_BYTES >= 20 * 35_000  # CSN's largest Python function is ~35 KB
    assert MAX_LINE_BYTES > 3 * MAX_CODE_BYTES  # the official format holds the code twice, plus its tokens


def test_index_command_reports_every_defect_and_indexes_the_rest(es, es_settings, index_name, tmp_path):
    (tmp_path / "corpus").mkdir()
    for number, (file_name, write, _, _) in enumerate(DEFECTS.values()):
        write(tmp_path / "corpus" / f"{number:02d}-{file_name}")
    args = ["--es-url", es_settings.url, "--index", index_name, "index", "--data", str(tmp_path), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"skipped {len(DEFECTS)} bad records" in result.output
    for number, (file_name, _, line, reason) in enumerate(DEFECTS.values()):
        located = f"{tmp_path / 'corpus' / f'{number:02d}-{file_name}'}:{line or ''}"
        assert any(row.strip().startswith(located) and reason in row for row in result.output.splitlines()), located
    readable = {f.url for f in read_corpus(tmp_path, ReadReport())}
    es.indices.refresh(index=index_name)
    assert es.count(index=index_name)["count"] == len(readable) > 2

    strict = CliRunner().invoke(cli, [*args, "--strict"])
    assert strict.exit_code == 1
    assert (
        strict.output.count("\n") == 1 and strict.output.startswith("error: ") and "00-a.jsonl.gz:2:" in strict.output
    )


# ---------------------------------------------------------------- queries

HOSTILE_QUERIES = [
    "",
    "   ",
    '"unclosed phrase',
    "a* OR b:(c AND NOT d)",
    'title:"x" AND (y OR z)~2^5',
    "\\ / ) ] } [ { ( \\\\",
    "*",
    "*:*",
    "read~2 csv^5 file?",
    "x" * 10_000,
    "read csv " * 1_200,
    "читать файл ✓ 读取文件 📄 قراءة",
    "a\x00b\tc\nd",
    "read \udcff file",  # an undecodable byte from the command line (surrogateescape)
    "\ud800",  # a lone surrogate, as JSON can carry one
]


@pytest.fixture
def vector_index(es, index_name, trained, tmp_path, monkeypatch, paths):
    """An index with vectors from the tiny trained encoder, for every mode; rerank with the packaged MiniLM."""
    from hybrid_search.retrieval.params import RerankParams
    from hybrid_search.retrieval.tuned import Choice, save_choice

    pairs, encoder, _, _ = trained
    write_jsonl_gz(tmp_path / "corpus" / "f.jsonl.gz", pair_records(pairs))
    build_index(es, tmp_path, index_name, progress=False, encoder=encoder)
    # The packaged zero-shot MiniLM: the default fine-tuned re-ranker need not exist here.
    save_choice(paths.tuned, index_name, Choice("rerank", RerankParams(model="minilm", candidates=5)))
    monkeypatch.setenv("HYBRID_HOME", str(paths.home))
    return index_name


def test_hostile_queries_never_crash_in_any_mode(es, vector_index, paths):
    from hybrid_search.retrieval import MODES, make_retriever

    retrievers = {mode: make_retriever(es, vector_index, mode, paths=paths) for mode in MODES}
    for query in HOSTILE_QUERIES:
        for mode, retriever in retrievers.items():
            hits = retriever.search(query, k=5).hits
            assert len(hits) <= 5 and all(h.url for h in hits), (mode, query[:40])


def test_query_syntax_is_plain_text(es, vector_index):
    """`*:*` would match every document as query_string syntax; as plain text it has no terms at all."""
    from hybrid_search.retrieval.lexical import BaselineRetriever, LexicalRetriever

    assert es.search(index=vector_index, query={"query_string": {"query": "*:*"}})["hits"]["total"]["value"] == 64
    for retriever in (BaselineRetriever(es, vector_index), LexicalRetriever(es, vector_index)):
        for query in ("*", "*:*", "?", "\\*"):
            assert retriever.search(query, k=5).hits == [], (retriever.mode, query)
    lexical = lexical_search(
        "a:b*",
        fields=["code"],
        type="best_fields",
        size=5,
        lemmas="a:b*",
        lemma_boost=1.0,
        identifiers=("a_b",),
        identifier_boost=1.0,
    )
    for body in (baseline_search("a:b*", size=5), lexical):
        assert "query_string" not in json.dumps(body)


def test_search_command_rejects_empty_queries_and_takes_undecodable_bytes(es_settings, vector_index):
    for query in ("", "   ", "\t\n"):
        result = CliRunner().invoke(cli, ["--es-url", es_settings.url, "--index", vector_index, "search", query])
        assert result.exit_code == 1 and result.output == "error: the query is empty\n"
    command = [sys.executable, "-m", "hybrid_search.cli", "--es-url", es_settings.url, "--index", vector_index]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    raw = subprocess.run(
        [*command.copy(), "search", b"read \xff open file".decode("utf-8", "surrogateescape")],
        env=env,
        capture_output=True,
        check=False,
    )
    assert raw.returncode == 0 and raw.stderr == b"", raw.stderr.decode(errors="replace")[-500:]


# ---------------------------------------------------------------- annotations, queries and predictions files


def write_csv(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.mark.parametrize(
    "load, header, missing",
    [
        (load_qrels, ["Language", "Query", "Url", "Relevance"], "GitHubUrl"),
        (load_qrels, ["language", "query", "githuburl", "relevance"], "Language"),
        (load_qrels, ["Language", "Query", "GitHubUrl"], "Relevance"),
        (load_queries, ["Query"], "query"),
        (read_predictions, ["query", "language", "identifier"], "url"),
        (read_predictions, ["query", "identifier", "url"], "language"),
    ],
)
def test_wrong_columns_are_named(tmp_path, load, header, missing):
    path = write_csv(tmp_path / "f.csv", [header, ["x"] * len(header)])
    with pytest.raises(HybridError, match=rf"f.csv: missing column '{missing}' \(found: "):
        load(path)


def test_empty_csv_says_it_has_no_header(tmp_path):
    (tmp_path / "f.csv").write_text("")
    with pytest.raises(HybridError, match="missing column 'query' .found: no header"):
        load_queries(tmp_path / "f.csv")


def test_relevance_that_is_not_a_number_is_located(tmp_path):
    path = write_csv(
        tmp_path / "a.csv",
        [["Language", "Query", "GitHubUrl", "Relevance"], ["Python", "q", "u1", "3"], ["Python", "q", "u2", "high"]],
    )
    with pytest.raises(HybridError, match=r"a.csv:3: column 'Relevance' is not a number: 'high'"):
        load_qrels(path)


def test_csv_that_is_not_utf8_is_located(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b"query\nread file\nr\xe9sum\xe9 parser\n")
    with pytest.raises(HybridError, match=r"q.csv:3: not valid UTF-8"):
        load_queries(path)


def test_csv_field_over_the_csv_limit_is_located(tmp_path):
    path = write_csv(tmp_path / "p.csv", [["query", "language", "url"], ["q", "python", "u"]])
    with path.open("a") as f:
        f.write(f'q,python,"{"u" * 200_000}"\n')
    with pytest.raises(HybridError, match=r"p.csv:3: field larger than field limit"):
        read_predictions(path)


def test_spreadsheet_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes("\ufeffquery\nread file\n".encode())
    assert load_queries(path) == ["read file"]


def test_score_command_names_the_missing_column_in_one_line(tmp_path):
    predictions = write_csv(tmp_path / "p.csv", [["query", "lang", "url"], ["q", "python", "u"]])
    annotations = write_csv(tmp_path / "a.csv", [["Language", "Query", "GitHubUrl", "Relevance"]])
    result = CliRunner().invoke(cli, ["score", str(predictions), "--annotations", str(annotations)])
    assert result.exit_code == 1
    assert result.output == f"error: {predictions}: missing column 'language' (found: query, lang, url)\n"


RELEVANCE_HEADER = ["Language", "Query", "GitHubUrl", "Relevance"]


@pytest.mark.parametrize("missing", ["NaN", "nan", "NA", "N/A", "null", "None", "#N/A", " "])
def test_relevance_pandas_reads_as_missing_is_left_out_of_the_mean_as_csn_does(tmp_path, missing):
    """CSN's evaluator reads the file with pandas (these are its default NA strings) and averages with NaN
    left out; a (query, url) with no grade at all is dropped by its pivot_table."""
    rows = [["Python", "q", "u1", "3"], ["Python", "q", "u1", missing], ["Python", "q", "u2", missing]]
    qrels = load_qrels(write_csv(tmp_path / "a.csv", [RELEVANCE_HEADER, *rows]))
    assert qrels == {"q": {"u1": 3.0}}
    assert evaluate_ndcg({"q": ["u1"]}, qrels)["ndcg_within"] == 1.0


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("inf", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("1e308", "outside CSN's 0-3 scale"),
        ("3.5", "outside CSN's 0-3 scale"),
        ("-1", "outside CSN's 0-3 scale"),
    ],
)
def test_relevance_csn_does_not_define_is_refused_with_file_and_line(tmp_path, value, why):
    path = write_csv(tmp_path / "a.csv", [RELEVANCE_HEADER, ["Python", "q", "u1", "3"], ["Python", "q", "u2", value]])
    with pytest.raises(HybridError, match=rf"a.csv:3: column 'Relevance' is {why}: '{re.escape(value)}'"):
        load_qrels(path)


def test_score_json_with_a_nan_relevance_is_valid_json(tmp_path):
    predictions = write_csv(tmp_path / "p.csv", [["query", "language", "url"], ["q", "python", "u1"]])
    rows = [["Python", "q", "u1", "2"], ["Python", "q", "u1", "NaN"]]
    annotations = write_csv(tmp_path / "a.csv", [RELEVANCE_HEADER, *rows])
    result = CliRunner().invoke(cli, ["score", str(predictions), "--annotations", str(annotations), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))["ndcg_within"] == 1.0


def test_score_with_an_overflowing_relevance_is_one_line(tmp_path):
    predictions = write_csv(tmp_path / "p.csv", [["query", "language", "url"], ["q", "python", "u1"]])
    annotations = write_csv(tmp_path / "a.csv", [RELEVANCE_HEADER, ["Python", "q", "u1", "1e308"]])
    result = CliRunner().invoke(cli, ["score", str(predictions), "--annotations", str(annotations)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"error: {annotations}:2: column 'Relevance' is outside CSN's 0-3 scale")
