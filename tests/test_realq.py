"""The real-query protocol (pipeline/realq.py): its scores, its index, and where it joins tuning, eval and training."""

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import FUNCTIONS, make_function, pair_records, write_jsonl_gz

from hybrid_search import HybridError
from hybrid_search.cli import cli
from hybrid_search.data.corpus import function_from_record
from hybrid_search.data.types import doc_id
from hybrid_search.pipeline import realq
from hybrid_search.pipeline.realq import RealQueries, evaluate_real, load_real_queries
from hybrid_search.pipeline.tuning.common import best_candidate
from hybrid_search.pipeline.tuning.lexical import SEARCH_START, stages
from hybrid_search.retrieval.base import Hit, Ranking

COSQA_URL = "cosqa://code/7#L1-L4"


def write_real_queries(folder: Path, judged: list[tuple[str, dict]], unjudged: tuple[str, ...] = ()) -> Path:
    """A real-query folder: queries.csv, annotationStore.csv (each query's function at relevance 3), corpus/."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "queries.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["query"], *([q] for q, _ in judged), *([q] for q in unjudged)])
    with (folder / "annotationStore.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Language", "Query", "GitHubUrl", "Relevance", "Notes"])
        writer.writerows(["Python", query, record["url"], 3, ""] for query, record in judged)
    records = list({record["url"]: record for _, record in judged}.values())
    write_jsonl_gz(folder / "corpus" / "functions-000.jsonl.gz", records)
    return folder


def cosqa_record() -> dict:
    """A gold function outside every pool, as the shared folder writes them."""
    code = 'def flatten(nested):\n    """Flatten a nested list."""\n    return [x for xs in nested for x in xs]\n'
    return {
        "url": COSQA_URL,
        "repo": "cosqa/code",
        "path": "7.py",
        "func_name": "flatten",
        "code": code,
        "docstring": "Flatten a nested list.",
        "partition": "valid",
    }


# ---------------------------------------------------------------- pure


def test_scores_of_hand_made_rankings():
    real = RealQueries(["a", "b", "c", "d"], {"a": {"u1"}, "b": {"u2"}, "c": {"u3"}, "d": {"u4", "u5"}}, functions=[])
    others = [f"x{i}" for i in range(200)]
    ranking_a = Ranking([Hit(doc_id("u1"), "u1", 9.0), Hit(doc_id("x0"), "x0", 1.0)])  # gold first
    run_b = {doc_id(u): 100.0 - i for i, u in enumerate([*others[:19], "u2"])}  # gold 20th
    list_c = [doc_id(u) for u in [*others[:100], "u3"]]  # gold 101st: beyond MRR@100, scores 0
    pairs_d = [(doc_id(u), 1.0) for u in [*others[:2], "u5", *others[2:48], "u4"]]  # golds 3rd and 50th

    scores = evaluate_real([ranking_a, run_b, list_c, pairs_d], real)

    assert scores["mrr_at_100"] == pytest.approx((1 + 1 / 20 + 0 + 1 / 3) / 4)
    assert scores["recall_at_10"] == pytest.approx((1 + 0 + 0 + 0.5) / 4)
    assert scores["recall_at_100"] == pytest.approx((1 + 1 + 0 + 1) / 4)
    assert scores["queries"] == 4
    with pytest.raises(ValueError):
        evaluate_real([ranking_a], real)


def test_load_keeps_judged_queries_and_refuses_a_bad_folder_in_one_line(tmp_path):
    record = make_function(0, *FUNCTIONS[0], partition="train")
    folder = write_real_queries(
        tmp_path / "real", [("How to read a CSV", record), ("flatten list", cosqa_record())], unjudged=("no gold",)
    )
    real = load_real_queries(folder)
    assert real.queries == ["How to read a CSV", "flatten list"]  # the query without a judged function is left out
    assert real.gold["How to read a CSV"] == {record["url"]}  # annotations are keyed lower-cased, as CSN does
    assert real.urls() == {record["url"], COSQA_URL}
    assert real.first(1).queries == ["How to read a CSV"]

    (folder / "annotationStore.csv").unlink()
    with pytest.raises(HybridError) as refused:
        load_real_queries(folder)
    assert str(refused.value).startswith(f"real-query folder {folder}: file not found")
    assert "\n" not in str(refused.value)
    with pytest.raises(HybridError, match="real-query folder not found"):
        load_real_queries(tmp_path / "absent")


def test_selection_holds_the_reference_on_both_signals_and_maximises_the_mean_gain():
    base = {"mrr_pool": 0.2, "mrr_real": 0.4}
    best_on_valid = {"name": "a", "mrr_pool": 0.5, "mrr_real": 0.3}  # below the reference on real queries
    balanced = {"name": "b", "mrr_pool": 0.3, "mrr_real": 0.6}  # gain 0.5 * 1.5 + 0.5 * 1.5 = 1.5
    better = {"name": "c", "mrr_pool": 0.4, "mrr_real": 0.44}  # gain 0.5 * 2.0 + 0.5 * 1.1 = 1.55
    rows = [best_on_valid, balanced, better]
    assert best_candidate(rows, base)["name"] == "c"
    assert best_candidate(rows, None)["name"] == "a"  # without real queries: pool MRR alone, as before
    below = [{"name": "d", "mrr_pool": 0.1, "mrr_real": 0.5}, {"name": "e", "mrr_pool": 0.3, "mrr_real": 0.1}]
    assert best_candidate(below, base)["name"] == "d"  # none holds it: the best gain of all (1.375 vs 0.875)


def test_the_docstring_boost_and_web_phrasing_are_searched_only_with_real_queries():
    def tried(search_docstring, name):
        return {
            getattr(p, name) if name != "docstring" else p.fields["docstring"]
            for stage in stages(search_docstring)
            for p in stage(SEARCH_START)
        }

    assert tried(False, "docstring") == {1.0} and tried(False, "drop_web_words") == {False}
    assert tried(True, "docstring") == {0.5, 1.0, 2.0, 3.0} and tried(True, "drop_web_words") == {False, True}
    assert len(stages(True)) == len(stages(False)) + 2


def test_default_folder_is_the_environment_then_the_shared_one(monkeypatch, tmp_path):
    from hybrid_search.config import REPO_ROOT, default_real_queries_dir

    monkeypatch.setenv("HYBRID_REAL_QUERIES", str(tmp_path))
    assert default_real_queries_dir() == tmp_path
    monkeypatch.setenv("HYBRID_REAL_QUERIES", "")
    assert default_real_queries_dir() is None
    monkeypatch.delenv("HYBRID_REAL_QUERIES")
    monkeypatch.chdir(tmp_path)
    shared = REPO_ROOT.parent / "shared" / "cosqa-valid"
    assert default_real_queries_dir() == (shared if shared.is_dir() else None)


# ---------------------------------------------------------------- the index


def test_the_index_holds_the_valid_pool_and_the_gold_functions_once(es, index_name, trained):
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.es.indexing import index_meta

    records = [make_function(i, *f, partition="valid" if i < 4 else "train") for i, f in enumerate(FUNCTIONS)]
    pool = [function_from_record(r) for r in records]
    in_pool_copy = {**records[1], "func_name": "renamed_in_gold_folder"}  # the same url: the same document
    real = RealQueries(
        ["parse json", "push priority", "flatten"],
        {"parse json": {records[1]["url"]}, "push priority": {records[5]["url"]}, "flatten": {COSQA_URL}},
        [function_from_record(r) for r in (in_pool_copy, records[5], cosqa_record())],
    )
    name = f"{index_name}-realq"

    def uuid():
        return es.indices.get_settings(index=name)[name]["settings"]["index"]["uuid"]

    assert realq.build_realq_index(es, name, pool, real, progress=False) == name
    held = {h["_id"]: h["_source"] for h in es.search(index=name, size=100)["hits"]["hits"]}
    expected = {f.doc_id for f in pool[:4]} | {doc_id(records[5]["url"]), doc_id(COSQA_URL)}
    assert set(held) == expected and es.count(index=name)["count"] == 6  # train function 4 is not gold: left out
    assert held[pool[1].doc_id]["func_name"] == FUNCTIONS[1][0]  # the pool's record of a gold function is kept

    first = uuid()
    realq.build_realq_index(es, name, pool, real, progress=False)
    assert uuid() == first  # same content: reused

    encoder = Encoder.load(trained[3])
    realq.build_realq_index(es, name, pool, real, encoder=encoder, progress=False)
    with_vectors = uuid()
    meta = index_meta(es, name)
    assert with_vectors != first and meta["encoder"] == "tiny"
    assert meta["build"]["encoder"]["weights"] == encoder.fingerprint()
    realq.build_realq_index(es, name, pool, real, progress=False)
    assert uuid() == with_vectors  # vectors it does not need do not make a rebuild
    realq.build_realq_index(es, name, pool[:3], real, progress=False)
    assert uuid() != with_vectors and es.count(index=name)["count"] == 5  # other content: rebuilt


# ---------------------------------------------------------------- tune, eval, train


@pytest.fixture
def data_and_real(tmp_path, trained):
    """The synthetic pairs' functions as a valid partition (plus annotations), and a real-query folder asking for
    eight of them in other words, and for five functions outside the pool."""
    pairs = trained[0]
    data = tmp_path / "data"
    write_jsonl_gz(data / "corpus" / "functions-000.jsonl.gz", pair_records(pairs, partition="valid"))
    (data / "queries.csv").write_text("query\n" + "".join(f"{p.query}\n" for p in pairs[:3]))
    rows = "".join(f"Python,{p.query},{p.function.url},3,\n" for p in pairs[:3])
    (data / "annotationStore.csv").write_text("Language,Query,GitHubUrl,Relevance,Notes\n" + rows)
    records = pair_records(pairs, partition="valid")
    judged = [(f"how to {r['func_name'].replace('_', ' a ')} python", r) for r in records[::8]]
    # Functions outside the pool that only their docstrings tie to their queries, against pool functions whose
    # names share half the words: the docstring boost decides them.
    described = [
        (f"{verb} {noun} file checksum", docstring_only(i, f"{verb.title()} the {noun} file and return its checksum."))
        for i, (verb, noun) in enumerate([("read", "csv"), ("parse", "json"), ("sort", "matrix"), ("merge", "token")])
    ]
    real = write_real_queries(
        tmp_path / "real", [*judged, ("flatten a nested list python", cosqa_record()), *described]
    )
    return data, real


def docstring_only(i: int, docstring: str) -> dict:
    code = f'def digest_{i}(src):\n    """{docstring}"""\n    blob = fetch_stream(src)\n    return crc(blob)\n'
    return {
        **cosqa_record(),
        "url": f"cosqa://code/{100 + i}#L1-L4",
        "path": f"{100 + i}.py",
        "func_name": f"digest_{i}",
        "code": code,
        "docstring": docstring,
    }


@pytest.fixture
def run(es_settings, index_name, paths, monkeypatch):
    monkeypatch.setenv("HYBRID_HOME", str(paths.home))
    monkeypatch.chdir(paths.runs.parent)

    def invoke(*args):
        result = CliRunner().invoke(cli, ["--es-url", es_settings.url, "--index", index_name, *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == 0, result.output
        return result

    return invoke


def test_tune_lexical_scores_both_signals_and_stores_the_real_figures(es, run, data_and_real, paths, index_name):
    from hybrid_search.retrieval.lexical import LexicalRetriever
    from hybrid_search.retrieval.tuned import load_choice

    data, real_folder = data_and_real
    run("index", "--data", str(data), "--no-progress")
    tuned = run(
        "tune", "lexical", "--data", str(data), "--queries", "10", "--real-queries", str(real_folder), "--no-progress"
    )
    assert "real MRR" in tuned.output
    grid_path = next(line.split(": ", 1)[1] for line in tuned.output.splitlines() if line.startswith("every candidate"))
    grid = json.loads(Path(grid_path).read_text())
    baseline, rows = grid["tried"][0], grid["tried"][1:]
    assert baseline["mode"] == "baseline" and all("mrr_real" in r and "recall_at_10_real" in r for r in grid["tried"])
    assert any(r["params"]["fields"]["docstring"] == 3.0 for r in rows)  # the docstring stage ran
    assert grid["real_queries"]["queries"] == 13 and "baseline" in grid["selected_by"]

    # Oracle: the rule recomputed here, over the grid's own numbers.
    assert baseline["mrr_pool"] > 0 and baseline["mrr_real"] > 0
    holding = [r for r in rows if r["mrr_pool"] >= baseline["mrr_pool"] and r["mrr_real"] >= baseline["mrr_real"]]
    gains = [0.5 * r["mrr_pool"] / baseline["mrr_pool"] + 0.5 * r["mrr_real"] / baseline["mrr_real"] for r in holding]
    expected = holding[gains.index(max(gains))]
    assert expected is not max(rows, key=lambda r: r["mrr_pool"])  # this data tells the two rules apart
    choice = load_choice(paths.tuned, index_name, "lexical")
    assert choice.params.to_dict() == expected["params"]
    for key in ("mrr_pool", "mrr_real", "recall_at_10_real", "recall_at_100_real"):
        assert choice.valid[key] == expected[key]

    # Oracle: the chosen params' real MRR, from the gold functions' ranks in searches made here.
    real = load_real_queries(real_folder)
    retriever = LexicalRetriever(es, realq.default_index(index_name), params=choice.params, source=False)
    reciprocal = []
    for query, ranking in zip(real.queries, retriever.search_many(real.queries, k=100)):
        ids = [h.doc_id for h in ranking.hits]
        gold = doc_id(next(iter(real.gold[query])))
        reciprocal.append(1 / (ids.index(gold) + 1) if gold in ids else 0.0)
    assert choice.valid["mrr_real"] == pytest.approx(sum(reciprocal) / len(reciprocal))


def test_tune_hybrid_and_rerank_score_both_signals_against_their_reference(
    run, data_and_real, trained, paths, index_name
):
    from hybrid_search.retrieval.tuned import load_choice

    data, real_folder = data_and_real
    run("index", "--data", str(data), "--encoder", str(trained[3]), "--no-progress")
    common = ["--data", str(data), "--queries", "10", "--real-queries", str(real_folder), "--no-progress"]

    def grid_of(output):
        path = next(line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("every candidate"))
        return json.loads(Path(path).read_text())

    def gain(row, base):  # the rule, written out again here as its oracle
        return 0.5 * row["mrr_pool"] / base["mrr_pool"] + 0.5 * row["mrr_real"] / base["mrr_real"]

    for mode, extra, reference in (
        ("hybrid", [], "lexical alone"),
        ("rerank", ["--models", "minilm", "--latency-budget", "1e9"], "hybrid alone"),
    ):
        grid = grid_of(run("tune", mode, *common, *extra).output)
        base = grid["single_modes"]["lexical"] if mode == "hybrid" else grid["hybrid_reference"]
        rows = [r for r in grid["tried"] if r.get("fits", True)]
        assert all("mrr_real" in r and "recall_at_10_real" in r for r in rows) and reference in grid["selected_by"]
        assert base["mrr_pool"] > 0 and base["mrr_real"] > 0
        holding = [r for r in rows if r["mrr_pool"] >= base["mrr_pool"] and r["mrr_real"] >= base["mrr_real"]]
        expected = max(holding or rows, key=lambda r: gain(r, base))
        choice = load_choice(paths.tuned, index_name, mode)
        assert json.loads(json.dumps(choice.params.to_dict())) == expected["params"], mode  # weights: a list in JSON
        assert choice.valid["mrr_real"] == expected["mrr_real"] and "recall_at_10_real" in choice.valid


def test_eval_scores_every_mode_on_the_real_queries_with_the_alias_choices(
    es, run, data_and_real, trained, paths, index_name
):
    from hybrid_search.retrieval import make_retriever
    from hybrid_search.retrieval.params import LexicalParams
    from hybrid_search.retrieval.tuned import Choice, save_choice

    data, real_folder = data_and_real
    run("index", "--data", str(data), "--encoder", str(trained[3]), "--no-progress")
    chosen = LexicalParams(fields={"func_name": 1.0, "docstring": 3.0, "body": 1.0}, lemma_boost=0.0)
    save_choice(paths.tuned, index_name, Choice("lexical", chosen))
    out = paths.runs / "eval"
    modes = "baseline,lexical,dense,hybrid"
    evaluated = run(
        "eval",
        "--data",
        str(data),
        "--out",
        str(out),
        "--modes",
        modes,
        "--real-queries",
        str(real_folder),
        "--no-progress",
    )
    assert "real MRR" in evaluated.output.splitlines()[0]

    results = json.loads((out / "results.json").read_text())
    realq_index = realq.default_index(index_name)
    assert results["real_queries"]["queries"] == 13 and results["real_queries"]["index"] == realq_index
    assert set(results["modes"]) == set(modes.split(","))
    for result in results["modes"].values():
        assert set(result["real_queries"]) == {"mrr_at_100", "recall_at_10", "recall_at_100"}
    assert es.count(index=realq_index)["count"] == 64 + 5  # the pool's valid partition plus the outside functions

    # The realq index is searched with the alias's choices, not the defaults its own name would get.
    lexical = make_retriever(es, realq_index, "lexical", paths=paths, choices_for=index_name)
    assert lexical.params == chosen != make_retriever(es, realq_index, "lexical", paths=paths).params
    real = load_real_queries(real_folder)
    expected = evaluate_real(lexical.search_many(real.queries, k=100), real)
    assert results["modes"]["lexical"]["real_queries"]["mrr_at_100"] == pytest.approx(expected["mrr_at_100"])
    assert results["modes"]["lexical"]["real_queries"]["recall_at_10"] == pytest.approx(expected["recall_at_10"])

    # Without real queries the output is as before.
    plain = run(
        "eval", "--data", str(data), "--out", str(out), "--modes", "lexical", "--no-real-queries", "--no-progress"
    )
    assert "real MRR" not in plain.output and "real_queries" not in json.loads((out / "results.json").read_text())


def test_training_pairs_leave_out_the_real_queries_gold_functions(tmp_path, run):
    from helpers import synthetic_pairs

    from hybrid_search.encoder.models import EncoderConfig
    from hybrid_search.encoder.train import TrainConfig
    from hybrid_search.pipeline.training import load_training_data, run_training

    data, pairs = tmp_path / "data", synthetic_pairs()
    records = pair_records(pairs, partition="train")
    write_jsonl_gz(data / "corpus" / "functions-000.jsonl.gz", records)
    write_jsonl_gz(data / "corpus" / "functions-001.jsonl.gz", pair_records(pairs[:24], partition="valid"))
    real_folder = write_real_queries(tmp_path / "real", [("q one", records[0]), ("q two", records[5])])
    held_out = load_real_queries(real_folder).urls()

    def trained_urls(data_set):
        return {p.function.url for p in data_set.train_pairs}

    everything = load_training_data(data)
    without = load_training_data(data, held_out=held_out)
    assert {records[0]["url"], records[5]["url"]} <= trained_urls(everything)
    assert trained_urls(without) == trained_urls(everything) - {records[0]["url"], records[5]["url"]}
    assert without.removed["annotated"] == everything.removed["annotated"] + 2

    counted = run("data", "pairs", "--data", str(data), "--real-queries", str(real_folder))
    assert f"train partition: {len(records)} functions -> {len(records) - 2} pairs" in counted.output

    config = TrainConfig(encoder=EncoderConfig(kind="nbow", dim=16), epochs=1, batch_size=16, min_count=1)
    metadata = run_training(data, config, tmp_path / "nbow", progress=False, echo=lambda *_: None, held_out=held_out)
    assert metadata["filters_removed"]["annotated"] == 2 and metadata["settings"]["held_out"]["urls"] == 2
