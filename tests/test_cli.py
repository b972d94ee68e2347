"""The `hybrid` CLI end to end against the real node, and its one-line errors."""

import json

import pytest
from click.testing import CliRunner

from hybrid_search.cli import cli


@pytest.fixture
def run(es_settings, index_name):
    def invoke(*args, es_url=None):
        runner = CliRunner()
        return runner.invoke(
            cli, ["--es-url", es_url or es_settings.url, "--index", index_name, *args], catch_exceptions=False
        )

    return invoke


def test_index_search_eval_score(run, tiny_data, tmp_path):
    indexed = run("index", "--data", str(tiny_data), "--no-progress")
    assert indexed.exit_code == 0, indexed.output
    assert "read 6 functions, skipped 0 bad records" in indexed.output

    found = run("search", "read a csv file", "-k", "2")
    assert found.exit_code == 0 and found.output.splitlines()[0].strip().startswith("1. read_csv_file")

    out = tmp_path / "eval"
    evaluated = run("eval", "--data", str(tiny_data), "--out", str(out), "--no-progress")
    assert evaluated.exit_code == 0, evaluated.output
    results = json.loads((out / "results.json").read_text())
    assert set(results["modes"]) == {"baseline", "lexical"}
    for mode, scores in results["modes"].items():
        assert 0.0 < scores["ndcg_all"] <= scores["ndcg_within"] <= 1.0
        header, *rows = (out / mode / "model_predictions.csv").read_text().splitlines()
        assert header == "query,language,identifier,url" and rows
        scored = run(
            "score",
            str(out / mode / "model_predictions.csv"),
            "--annotations",
            str(tiny_data / "annotationStore.csv"),
            "--json",
        )
        assert scored.exit_code == 0
        again = json.loads(scored.output)
        assert again["ndcg_within"] == pytest.approx(scores["ndcg_within"], abs=1e-12)
        assert set(again["per_query"]) == {"read csv file", "priority queue", "convert int to string"}
    assert "NDCG Within" in evaluated.output and "lexical" in evaluated.output
    lexical = results["modes"]["lexical"]
    low, high = lexical["ndcg_within_ci95"]
    assert low <= lexical["ndcg_within"] <= high
    assert 0 < lexical["ndcg_within_p_vs_baseline"] <= 1 and sum(lexical["ndcg_within_wtl_vs_baseline"]) == 3
    rows = (out / "per_query.csv").read_text().splitlines()
    assert rows[0] == "query,mode,ndcg_within,ndcg_all" and len(rows) == 1 + 2 * 3
    assert (out / "per_query_ndcg.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("results.json", "per_query.csv", "per_query_ndcg.png"):
        assert str(out / name) in evaluated.output


def test_unreachable_cluster_is_one_line_and_nonzero(run, tiny_data):
    result = run("search", "anything", es_url="http://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "not reachable at http://127.0.0.1:9" in result.output and "hybrid es up" in result.output


def test_missing_index_and_empty_query_are_clear(run):
    result = run("search", "read file")
    assert result.exit_code == 1 and "not found" in result.output and "hybrid index" in result.output
    assert "query is empty" in run("search", "   ").output
    assert "query is empty" in run("search", "\x00\x1b \u200b").output  # control and invisible characters only


def test_bad_data_and_bad_predictions(run, tmp_path):
    missing = run("index", "--data", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "data folder not found" in missing.output
    bad = tmp_path / "p.csv"
    bad.write_text("query,lang,url\n")
    (tmp_path / "annotationStore.csv").write_text("Language,Query,GitHubUrl,Relevance\n")
    scored = run("score", str(bad), "--annotations", str(tmp_path / "annotationStore.csv"))
    assert scored.exit_code == 1 and "missing column 'language'" in scored.output


def test_strict_index_stops_on_bad_record(run, tiny_data):
    with open(tiny_data / "corpus" / "functions-001.jsonl", "w") as f:
        f.write("{not json\n")
    result = run("index", "--data", str(tiny_data), "--strict", "--no-progress")
    assert result.exit_code == 1 and "functions-001.jsonl:1: malformed JSON" in result.output


def test_eval_runs_every_mode_end_to_end(run, tmp_path, trained, monkeypatch):
    """Index with vectors, fine-tune a (tiny) re-ranker where the rerank params expect it, eval all five modes."""
    import csv

    from helpers import pair_records, write_jsonl_gz

    from hybrid_search.encoder.resolve import load_reranker
    from hybrid_search.retrieval.params import RerankParams

    pairs, _, _, model_dir = trained
    data = tmp_path / "data"
    write_jsonl_gz(data / "corpus" / "f.jsonl.gz", pair_records(pairs))
    queries = [p.query for p in pairs[:4]]
    with (data / "queries.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["query"], *[[q] for q in queries]])
    with (data / "annotationStore.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Language", "Query", "GitHubUrl", "Relevance", "Notes"])
        writer.writerows(["Python", q, p.function.url, 3, ""] for q, p in zip(queries, pairs))
    models = tmp_path / "models"
    monkeypatch.setenv("HYBRID_MODELS", str(models))
    reranker = load_reranker("minilm", models=models)
    reranker.fine_tune(pairs[:16], models / RerankParams().model, batch_size=8, progress=False)

    assert run("index", "--data", str(data), "--encoder", str(model_dir), "--no-progress").exit_code == 0
    out = tmp_path / "eval"
    result = run("eval", "--data", str(data), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    modes = json.loads((out / "results.json").read_text())["modes"]
    assert list(modes) == ["baseline", "lexical", "dense", "hybrid", "rerank"]
    for name in ("dense", "hybrid", "rerank"):
        assert modes[name]["ndcg_within"] > 0.9  # the tiny encoder learned these very pairs
        assert (out / name / "model_predictions.csv").exists()
    assert len((out / "per_query.csv").read_text().splitlines()) == 1 + 5 * len(queries)
    # Per-stage diagnostics: each query's one relevant function, through hybrid's lexical, dense and fused lists.
    stages = modes["rerank"]["stages"]["mean_relevant_found"]
    assert stages["relevant"] == 1.0 and {"lexical", "dense", "fused", "candidates", "final top 10"} <= set(stages)
    assert all(0.0 <= found <= 1.0 for found in stages.values()) and stages["fused"] >= stages["final top 10"]
    assert set(modes["lexical"]["stages"]["mean_relevant_found"]) == {"relevant", "final top 10", "final top 100"}
    assert (out / "per_query_ndcg.png").exists()


def test_index_records_whether_the_vectors_read_docstrings(run, tiny_data, trained, es, index_name):
    from hybrid_search.es.indexing import aliased_index, index_meta

    model = str(trained[3])
    reading = run("index", "--data", str(tiny_data), "--encoder", model, "--read-docstrings", "--no-progress")
    assert reading.exit_code == 0, reading.output
    first = aliased_index(es, index_name)
    assert index_meta(es, first)["build"]["encoder"]["weights"].endswith("+doc")
    assert run("search", "read a csv file", "--mode", "dense", "-k", "1").exit_code == 0
    code_only = run("index", "--data", str(tiny_data), "--encoder", model, "--code-only", "--no-progress")
    assert code_only.exit_code == 0, code_only.output
    assert aliased_index(es, index_name) != first  # other vectors: a new version, not "already built"
    assert not index_meta(es, index_name)["build"]["encoder"]["weights"].endswith("+doc")
    alone = run("index", "--data", str(tiny_data), "--read-docstrings")
    assert alone.exit_code != 0 and "--encoder" in alone.output and len(alone.output.strip().splitlines()) == 1
