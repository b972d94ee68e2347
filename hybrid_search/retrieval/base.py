"""The result type shared by all retrieval modes."""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("baseline", "lexical")


@dataclass(frozen=True)
class Hit:
    doc_id: str
    url: str
    score: float
    source: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def func_name(self) -> str:
        return self.source.get("func_name", "")
