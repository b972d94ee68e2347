"""A token vocabulary built from training pairs: id 0 pads, id 1 stands for unknown tokens."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

PAD, UNK = "<pad>", "<unk>"


class Vocab:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.index = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], max_size: int, min_count: int) -> Vocab:
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = [t for t, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
        return cls([PAD, UNK, *kept[: max_size - 2]])

    def ids(self, tokens: list[str]) -> list[int]:
        return [self.index.get(token, 1) for token in tokens]

    def __len__(self) -> int:
        return len(self.tokens)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.tokens))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        return cls(json.loads(path.read_text()))
