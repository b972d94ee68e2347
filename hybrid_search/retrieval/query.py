"""Query understanding with spaCy: lemmas, stop words, and identifier-style variants of a query.

"reading csv files" -> lemmas `read csv file`; identifiers `read_csv`, `csv_file`, `read_csv_file` and
their camelCase forms as the code analyzer indexes them (`readCsv` -> `readcsv`). They become extra
lexical clauses on the function name, weighted by boosts chosen on the valid partition.

spaCy runs with a blank English pipeline and the lookup lemmatizer from `spacy-lookups-data`: no model
download, no statistical model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

MAX_IDENTIFIER_WORDS = 3


@dataclass(frozen=True)
class QueryVariants:
    lemmas: str  # content-word lemmas, space-separated
    identifiers: tuple[str, ...]  # snake_case and lower-cased camelCase joins of adjacent content words


@cache
def _nlp():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def content_words(text: str) -> tuple[list[str], list[str]]:
    """(words, lemmas) of the alphabetic, non-stop-word tokens of lower-cased `text`."""
    tokens = [t for t in _nlp()(text[:2000].lower()) if t.is_alpha and not t.is_stop]
    return [t.text for t in tokens], [t.lemma_ for t in tokens]


def identifier_variants(words: list[str], max_words: int = MAX_IDENTIFIER_WORDS) -> tuple[str, ...]:
    """Adjacent runs of 2..max_words words joined as snake_case and as (lower-cased) camelCase."""
    variants: list[str] = []
    for size in range(2, max_words + 1):
        for start in range(len(words) - size + 1):
            run = words[start : start + size]
            for joined in ("_".join(run), "".join(run)):
                if joined not in variants:
                    variants.append(joined)
    return tuple(variants)


def query_variants(text: str) -> QueryVariants:
    """Identifiers are built from the words and from their lemmas: names say `read_csv` (a lemma) but also
    `data_frame` (a word the lookup lemmatizer turns into `datum`)."""
    words, lemmas = content_words(text)
    identifiers = dict.fromkeys(identifier_variants(words) + identifier_variants(lemmas))
    return QueryVariants(" ".join(lemmas), tuple(identifiers))


# Words a web search adds to say where to look, not what the code does: every CoSQA query names Python
# ("python 3 remove directory recursively", "how to check value is int or float python").
WEB_LEADS = ("how to", "how do i", "how can i", "how do you")


def without_web_words(text: str) -> str:
    """The query without a leading "how to"-style phrase and without the words naming the language
    (`python`, `python 3`, `in python`, `using python`); the query itself when nothing else would be left."""
    words = text.split()
    lowered = [w.lower() for w in words]
    for lead in WEB_LEADS:
        size = len(lead.split())
        if " ".join(lowered[:size]) == lead:
            words, lowered = words[size:], lowered[size:]
            break
    kept, skip_version = [], False
    for word, low in zip(words, lowered):
        if low in ("python", "py") or (skip_version and low in ("2", "3", "2.7")):
            skip_version = low in ("python", "py")
            if kept and kept[-1].lower() in ("in", "using", "with"):
                kept.pop()
            continue
        skip_version = False
        kept.append(word)
    return " ".join(kept) or text
