"""`hybrid tune` on a tiny corpus: the four tuners end to end, and what a stored choice is good for."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import pair_records, write_jsonl_gz

import hybrid_search
from hybrid_search.cli import cli
from hybrid_search.retrieval.tuned import load_choice, tuned_file


@pytest.fixture
def tune_data(tmp_path, trained):
    """The synthetic pairs' functions as a valid partition (the tuners' query source), plus annotations."""
    pairs = trained[0]
    data = tmp_path / "data"
    write_jsonl_gz(data / "corpus" / "functions-000.jsonl.gz", pair_records(pairs, partition="valid"))
    (data / "queries.csv").write_text("query\n" + "".join(f"{p.query}\n" for p in pairs[:3]))
    rows = "".join(f"Python,{p.query},{p.function.url},3,\n" for p in pairs[:3])
    (data / "annotationStore.csv").write_text("Language,Query,GitHubUrl,Relevance,Notes\n" + rows)
    return data


@pytest.fixture
def run(es_settings, index_name, paths, monkeypatch):
    """The CLI on a throw-away alias, with the tool's home (tuned choices, caches, models) under tmp_path."""
    monkeypatch.setenv("HYBRID_HOME", str(paths.home))
    monkeypatch.chdir(paths.runs.parent)

    def invoke(*args):
        result = CliRunner().invoke(cli, ["--es-url", es_settings.url, "--index", index_name, *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    return invoke


def grid_of(output: str) -> dict:
    path = next(line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("every candidate tried"))
    return json.loads(open(path).read())


def test_four_tuners_store_the_best_candidate_for_the_alias(run, tune_data, trained, paths, index_name):
    model = str(trained[3])
    assert run("index", "--data", str(tune_data), "--encoder", model, "--no-progress").exit_code == 0
    common = ["--data", str(tune_data), "--queries", "10", "--no-progress"]

    lexical = run("tune", "lexical", *common)
    assert lexical.exit_code == 0, lexical.output
    grid = grid_of(lexical.output)
    best = max((t for t in grid["tried"] if t["mode"] == "lexical"), key=lambda t: t["mrr_pool"])
    chosen = load_choice(paths.tuned, index_name, "lexical")
    assert chosen.stored and chosen.params.to_dict() == best["params"]
    assert chosen.valid["mrr_pool"] == best["mrr_pool"]

    dense = run("tune", "dense", *common)
    assert dense.exit_code == 0, dense.output
    rows = grid_of(dense.output)["tried"]
    reached = [r["num_candidates"] for r in rows if r["recall_at_100"] >= 0.98]
    assert load_choice(paths.tuned, index_name, "dense").params.num_candidates == (reached or [1600])[0]

    hybrid = run("tune", "hybrid", *common)
    assert hybrid.exit_code == 0, hybrid.output
    tried = grid_of(hybrid.output)["tried"]
    assert load_choice(paths.tuned, index_name, "hybrid").valid["mrr_pool"] == max(t["mrr_pool"] for t in tried)

    rerank = run(
        "tune", "rerank", *common, "--models", "minilm", "--latency-budget", "1e9", "--word-pieces", "128,32"
    )  # timing is not tested
    assert rerank.exit_code == 0, rerank.output
    choice = load_choice(paths.tuned, index_name, "rerank")
    assert choice.params.model == "minilm" and choice.made_for["encoder"]["name"] == "tiny"
    # Each precision, reading candidates' docstrings and not, at each length.
    tried = grid_of(rerank.output)["tried"]
    variants = {(r["params"]["int8"], r["params"]["reads_docstring"], r["params"]["max_tokens"]) for r in tried}
    assert variants == {(q, d, t) for q in (False, True) for d in (False, True) for t in (128, 32)}

    store = json.loads(tuned_file(paths.tuned, index_name).read_text())
    assert store["format"] == 1 and set(store["modes"]) == {"lexical", "dense", "hybrid", "rerank"}
    package = Path(hybrid_search.__file__).parent
    assert not list(package.glob("**/*.json"))  # the tuners once wrote retrieval/*_params.json in the package

    # eval shows the valid scores of choices made for this index, and runs rerank with the tuned zero-shot model.
    out = paths.runs / "eval"
    evaluated = run("eval", "--data", str(tune_data), "--out", str(out), "--no-progress")
    assert evaluated.exit_code == 0, evaluated.output
    modes = json.loads((out / "results.json").read_text())["modes"]
    assert modes["lexical"]["valid"]["mrr_pool"] == chosen.valid["mrr_pool"]
    assert "valid" not in modes["baseline"]  # the built-in baseline scores belong to pool v1, not this corpus
    assert modes["rerank"]["retriever"]["rerank"]["model"] == "minilm"


def test_a_choice_tuned_for_other_vectors_is_refused_in_one_line(run, tune_data, trained, paths, index_name):
    from hybrid_search.retrieval.params import FusionParams
    from hybrid_search.retrieval.tuned import Choice, save_choice

    assert run("index", "--data", str(tune_data), "--encoder", str(trained[3]), "--no-progress").exit_code == 0
    other = {"encoder": {"name": "nbow", "weights": "not-these-weights"}}
    save_choice(paths.tuned, index_name, Choice("hybrid", FusionParams(depth=50), made_for=other))
    refused = run("search", "read the csv", "--mode", "hybrid")
    assert refused.exit_code == 1
    assert refused.output.startswith("error: the hybrid choice in ") and "not-these-weights" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert run("search", "read the csv", "--mode", "lexical").exit_code == 0  # other modes are unaffected


def test_a_hand_edited_choice_is_one_clear_line(run, tune_data, paths, index_name):
    assert run("index", "--data", str(tune_data), "--no-progress").exit_code == 0
    path = tuned_file(paths.tuned, index_name)
    path.parent.mkdir(parents=True)
    bad = {"lexical": {"params": {"fields": {"code": 1.0}, "typo": 1}}}
    for content, expected in (
        (json.dumps({"format": 1, "modes": bad}), "unknown parameter(s) typo"),
        ('{"format": 1, "modes": ', "cannot be read"),
        (json.dumps({"format": 7, "modes": {}}), "is not format 1"),
    ):
        path.write_text(content)
        result = run("search", "read the csv", "--mode", "lexical")
        assert result.exit_code == 1 and expected in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
