"""The trained encoder: learning on a tiny set, normalised deterministic vectors, save/reload, kNN in ES.

Also the encoder API (the `TextEncoder` protocol, the model resolver, MiniLM loaded offline) and `hybrid
train`'s pipeline: a finished training is not redone, an interrupted one resumes, timings cover what they name.
"""

import ast
import copy
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import pair_records, synthetic_pairs

import hybrid_search.encoder
from hybrid_search import HybridError
from hybrid_search.encoder import TextEncoder
from hybrid_search.encoder.encoder import Encoder
from hybrid_search.encoder.folders import model_folder
from hybrid_search.encoder.models import DualEncoder, EncoderConfig
from hybrid_search.encoder.resolve import load_encoder, load_reranker, reranker_available
from hybrid_search.encoder.tokenize import code_subtokens, subtokens
from hybrid_search.encoder.train import TrainConfig, train_encoder
from hybrid_search.evaluation.dense import csn_mrr


def test_subtokens_mirror_the_code_analyzer():
    assert subtokens("df = pd.read_csv(filePath2)") == ["df", "pd", "read", "csv", "file", "path", "2"]
    assert code_subtokens("Reader.readAll", "return x", limit=3) == ["reader", "read", "all"]


def test_training_lowers_the_loss_and_ranks_the_right_function_first(trained):
    pairs, encoder, metadata, _ = trained
    losses = [h["loss"] for h in metadata["history"]]
    assert losses[-1] < 0.5 * losses[0]
    queries = encoder.encode_queries([p.query for p in pairs])
    codes = encoder.encode_functions([p.function for p in pairs])
    top1 = (queries @ codes.T).argmax(1)
    assert (top1 == np.arange(len(pairs))).mean() >= 0.9
    assert metadata["valid_mrr_csn"] > 0.9


def test_vectors_are_unit_norm_deterministic_and_survive_reload(trained):
    pairs, encoder, _, out = trained
    texts = [p.query for p in pairs[:5]]
    first = encoder.encode_queries(texts)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, encoder.encode_queries(texts))
    reloaded = Encoder.load(out)
    assert np.array_equal(reloaded.encode_queries(texts), first)
    functions = [p.function for p in pairs[:5]]
    assert np.array_equal(reloaded.encode_functions(functions), encoder.encode_functions(functions))
    # Batching and length-sorting do not change a function's vector.
    alone = reloaded.encode_functions(functions[:1])
    assert np.allclose(alone[0], reloaded.encode_functions(functions)[0], atol=1e-6)


def test_interrupted_training_resumes_from_checkpoint(tmp_path):
    pairs = synthetic_pairs()
    config = TrainConfig(encoder=EncoderConfig(kind="nbow", dim=16), epochs=2, batch_size=16, min_count=1)
    _, first = train_encoder(
        pairs, pairs[:16], config, tmp_path / "m", score_epoch=csn_mrr, progress=False, echo=lambda *_: None
    )
    config.epochs = 3
    messages = []
    _, resumed = train_encoder(
        pairs, pairs[:16], config, tmp_path / "m", score_epoch=csn_mrr, progress=False, echo=messages.append
    )
    assert any("resuming from epoch 2" in m for m in messages)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][:2] == first["history"]


@pytest.mark.parametrize("kind", ["nbow", "attn", "selfatt"])
def test_every_kind_gives_unit_vectors_ignoring_padding(kind):
    torch.manual_seed(0)
    model = DualEncoder(EncoderConfig(kind=kind, vocab_size=50, dim=16, max_code_len=12)).eval()
    ids = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    with torch.no_grad():
        vectors = model.encode(ids, "code")
        unpadded = model.encode(ids[:1, :3], "code")
    assert vectors.shape == (2, 16)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(vectors[0], unpadded[0], atol=1e-5)


def test_knn_search_in_elasticsearch(es, tmp_path, index_name, trained, paths):
    from helpers import write_jsonl_gz

    from hybrid_search.pipeline.build import build_index
    from hybrid_search.retrieval import available_modes
    from hybrid_search.retrieval.dense import DenseRetriever
    from hybrid_search.retrieval.hybrid import HybridRetriever
    from hybrid_search.retrieval.lexical import LexicalRetriever
    from hybrid_search.retrieval.params import DenseParams, FusionParams, RerankParams

    pairs, encoder, _, _ = trained
    records = pair_records(pairs, partition="train")
    write_jsonl_gz(tmp_path / "corpus" / "f.jsonl.gz", records)
    report = build_index(es, tmp_path, index_name, progress=False, encoder=encoder)
    assert es.count(index=index_name)["count"] == len(pairs)
    # rerank is offered only once its re-ranker exists (none in this empty models folder).
    assert available_modes(es, index_name, paths=paths) == ["baseline", "lexical", "dense", "hybrid"]
    retriever = DenseRetriever(es, index_name, encoder=encoder, params=DenseParams(num_candidates=50))
    found = sum(retriever.search(p.query, k=1).hits[0].url == p.function.url for p in pairs)
    assert found >= 0.9 * len(pairs)
    # kNN agrees with exact search over the same vectors for the top hit.
    exact = encoder.encode_functions([p.function for p in pairs])
    query = encoder.encode_queries([pairs[3].query])[0]
    assert retriever.search(pairs[3].query, k=1).hits[0].url == pairs[int((exact @ query).argmax())].function.url
    assert report.index.startswith(index_name)
    # Hybrid fuses both lists: every query still finds its function first.
    hybrid = HybridRetriever(LexicalRetriever(es, index_name), retriever, params=FusionParams("rrf", depth=20))
    hits = [hybrid.search(p.query, k=5).hits for p in pairs]
    assert sum(h[0].url == p.function.url for h, p in zip(hits, pairs)) >= 0.9 * len(pairs)
    assert all(len(h) == 5 and h[0].score >= h[-1].score for h in hits)
    # Rerank re-orders the hybrid head only; the tail keeps the first-stage order.
    from hybrid_search.encoder.resolve import load_reranker
    from hybrid_search.retrieval.rerank import Reranker, RerankRetriever

    reranker = Reranker(load_reranker("minilm", models=paths.models), paths.cache)
    rerank = RerankRetriever(
        hybrid, reranker, params=RerankParams(model="minilm", candidates=5, first_stage_weight=0.5)
    )
    first = rerank.first_stage.search(pairs[0].query, k=8).hits
    again = rerank.search(pairs[0].query, k=8).hits
    assert {h.doc_id for h in again[:5]} == {h.doc_id for h in first[:5]}
    assert [h.doc_id for h in again[5:]] == [h.doc_id for h in first[5:]]


def test_dense_mode_refuses_vectors_from_other_weights(es, tmp_path, index_name, trained, paths):
    from helpers import write_jsonl_gz

    from hybrid_search.pipeline.build import build_index
    from hybrid_search.retrieval import make_retriever

    pairs, _, _, out = trained
    model_dir = tmp_path / "model"
    shutil.copytree(out, model_dir)
    encoder = Encoder.load(model_dir)
    write_jsonl_gz(tmp_path / "data" / "corpus" / "f.jsonl.gz", pair_records(pairs[:8]))
    build_index(es, tmp_path / "data", index_name, progress=False, encoder=encoder)

    def from_index():
        return make_retriever(es, index_name, "dense", paths=paths)

    assert from_index().encoder.path == model_dir  # found through the index's _meta
    state = torch.load(model_dir / "model.pt", weights_only=True)
    state["embedding.weight"] += 1.0
    torch.save(state, model_dir / "model.pt")
    with pytest.raises(HybridError, match="other weights"):
        from_index()


# ---------------------------------------------------------------- the encoder API


def test_training_leaves_the_callers_config_as_it_was(tmp_path):
    pairs = synthetic_pairs()[:16]
    config = TrainConfig(encoder=EncoderConfig(kind="nbow", dim=8), epochs=1, batch_size=8, min_count=1)
    before = copy.deepcopy(config)
    _, metadata = train_encoder(
        pairs, pairs[:8], config, tmp_path / "m", score_epoch=csn_mrr, progress=False, echo=lambda *_: None
    )
    assert config == before
    assert metadata["config"]["encoder"]["vocab_size"] == metadata["vocab_size"] > 2


def test_the_encoder_package_imports_no_later_stage():
    """encoder/ sits below evaluation, retrieval, pipeline and cli: it never imports them (STYLE.md)."""
    later = ("evaluation", "retrieval", "pipeline", "cli", "web", "es")
    for path in sorted(Path(hybrid_search.encoder.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(tuple(f"hybrid_search.{stage}" for stage in later)), (path.name, name)


def test_models_are_found_by_path_or_by_name_in_the_models_folder(trained, tmp_path):
    _, encoder, _, out = trained
    models = tmp_path / "models"
    shutil.copytree(out, models / "tiny-copy")
    assert model_folder(out, models=models) == out
    assert model_folder("tiny-copy", models=models) == models / "tiny-copy"
    by_name = load_encoder("tiny-copy", models=models)
    assert isinstance(by_name, TextEncoder) and by_name.name == "tiny-copy" and by_name.dims == encoder.dims
    assert np.array_equal(by_name.encode_queries(["read csv"]), encoder.encode_queries(["read csv"]))
    # The same weights; loaded for indexing, the code side reads docstrings (folders.READS_DOCSTRINGS).
    assert by_name.fingerprint() == encoder.reading_docstrings(True).fingerprint() == encoder.fingerprint() + "+doc"
    with pytest.raises(HybridError) as missing:
        load_encoder("absent", models=models)
    message = str(missing.value)
    assert "\n" not in message and str(models / "absent") in message and "`hybrid train`" in message
    assert reranker_available("tiny-copy", models=models) and reranker_available("minilm", models=models)
    assert not reranker_available("absent", models=models)
    assert not reranker_available("bad\0name", models=models)  # never raises


def test_packaged_minilm_loads_offline_without_touching_the_environment(monkeypatch, tmp_path):
    from hybrid_search.encoder.minilm import packaged_model_path

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    reranker = load_reranker("minilm", models=tmp_path)
    assert "HF_HUB_OFFLINE" not in os.environ
    assert isinstance(reranker, TextEncoder) and reranker.name == "minilm" and reranker.int8 is False
    vectors = reranker.encode_queries(["read a csv file", "send an email"])
    assert vectors.shape == (2, reranker.dims) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The fingerprint names the embedding caches: it must stay what it was before this API existed.
    assert reranker.fingerprint() == old_weights_fingerprint(packaged_model_path())
    with pytest.raises(HybridError, match="not one of our encoders"):
        load_encoder(packaged_model_path(), models=tmp_path)
    with pytest.raises(HybridError, match="zero-shot 'minilm'"):
        load_reranker("minilm-ft", models=tmp_path)


def old_weights_fingerprint(model_dir: Path) -> str:
    """`retrieval.rerank.weights_fingerprint` as it was (the oracle for `MiniLMEncoder.fingerprint`)."""
    weights = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    stamp = "|".join(f"{w.resolve()}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)
    return hashlib.sha1(stamp.encode()).hexdigest()[:12]


@pytest.mark.parametrize("reads_docstring", [False, True])
def test_the_code_side_reads_the_docstring_only_when_trained_to(reads_docstring):
    from hybrid_search.data.types import Function
    from hybrid_search.encoder.vocab import Vocab

    torch.manual_seed(0)
    vocab = Vocab.build([["parse", "config", "file", "load", "yaml", "settings"]], max_size=50, min_count=1)
    config = EncoderConfig(kind="nbow", vocab_size=len(vocab), dim=16, reads_docstring=reads_docstring)
    encoder = Encoder(DualEncoder(config), vocab)
    code = 'def parse(path):\n    """Load yaml settings."""\n    return config(file(path))'
    function = Function(url="u", repo="r", path="p.py", func_name="parse", code=code, docstring="Load yaml settings.")
    assert ("Load yaml settings." in encoder.code_text(function)) is reads_docstring
    assert "Load yaml" not in encoder.code_text(function.masked())  # nor ever the docstring literal in the code
    with_doc, without = encoder.encode_functions([function, function.masked()])
    assert np.allclose(with_doc, without) is not reads_docstring


def test_reading_docstrings_keeps_the_weights_and_marks_the_fingerprint(trained, tmp_path):
    from hybrid_search.encoder.folders import reads_docstring_of

    pairs, _, _, out = trained
    code_only = load_encoder(out, models=tmp_path, reads_docstring=False)
    reading = code_only.reading_docstrings(True)
    assert reading.model is code_only.model and not code_only.config.reads_docstring  # the original is unchanged
    assert reading.fingerprint() == code_only.fingerprint() + "+doc" and reads_docstring_of(reading.fingerprint())
    assert load_encoder(out, models=tmp_path, reads_docstring=True).fingerprint() == reading.fingerprint()
    function = pairs[0].function  # its docstring's words are in the vocabulary
    assert function.docstring and function.docstring in reading.code_text(function)
    assert not np.allclose(reading.encode_functions([function]), code_only.encode_functions([function]))
    assert np.allclose(reading.encode_queries([pairs[0].query]), code_only.encode_queries([pairs[0].query]))
