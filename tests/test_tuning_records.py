"""The built-in defaults and their records agree: one current record per mode under docs/tuning/, in one
format, whose parameters are the defaults in code and whose valid figures are the built-in ones (pure: no node)."""

import json
from pathlib import Path

import pytest

from hybrid_search.retrieval.codebase import CodebaseParams
from hybrid_search.retrieval.modes import MODES, TABLE
from hybrid_search.retrieval.params import BUILT_IN

TUNING = Path(__file__).resolve().parents[1] / "docs" / "tuning"
RECORD_KEYS = {"mode", "params", "made_for", "valid", "selected_by", "tried"}
PARAMS = {**{mode.name: mode.params for mode in TABLE}, "codebase": CodebaseParams}


def record(mode: str) -> dict:
    return json.loads((TUNING / f"{mode}.json").read_text())


def test_one_current_record_per_mode_and_the_rest_in_history():
    current = sorted(path.stem for path in TUNING.glob("*.json"))
    assert current == sorted(PARAMS), "one record per mode under docs/tuning/, dated alternatives in history/"
    assert all(path.stem.rsplit("-", 1)[-1].isdigit() for path in (TUNING / "history").glob("*.json"))


@pytest.mark.parametrize("mode", sorted(PARAMS))
def test_a_record_is_in_the_one_format_and_its_params_are_the_defaults(mode):
    found = record(mode)
    assert RECORD_KEYS <= set(found) and found["mode"] == mode
    kind = PARAMS[mode]
    assert kind.from_dict(found["params"], where=f"docs/tuning/{mode}.json") == kind()


@pytest.mark.parametrize("mode", MODES)
def test_the_built_in_valid_figures_are_the_records(mode):
    found, built_in = record(mode), BUILT_IN[mode]
    figures = {key: value for key, value in built_in["valid"].items() if key != "queries"}
    assert figures == {
        key: round(found["valid"][key], len(str(value).split(".")[-1])) for key, value in figures.items()
    }
    stated = found.get("protocol", {}).get("queries") or found["valid"].get("queries")
    if stated:
        assert built_in["valid"]["queries"] == stated
    encoder = (found["made_for"].get("encoder") or {}).get("weights")
    assert encoder == (built_in["made_for"].get("encoder") or {}).get("weights")
