"""Bootstrap and randomisation test: reproducible with a seed, and sensible on clear-cut cases."""

import pytest

from hybrid_search.evaluation.stats import bootstrap_ci, paired_randomization, wins_ties_losses


def test_bootstrap_is_reproducible_and_brackets_the_mean():
    values = [0.1, 0.4, 0.35, 0.8, 0.55, 0.2, 0.9, 0.65]
    low, high = bootstrap_ci(values, seed=3)
    assert (low, high) == bootstrap_ci(values, seed=3)
    assert low < sum(values) / len(values) < high
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)


def test_randomization_test_separates_clear_and_null_differences():
    better = [0.9, 0.8, 0.85, 0.95, 0.7, 0.9, 0.8, 0.75, 0.9, 0.85, 0.8, 0.9]
    worse = [v - 0.3 for v in better]
    assert paired_randomization(better, worse, seed=1) < 0.01
    noise = [0.01, -0.02, 0.015, -0.01, 0.0, 0.005, -0.005, 0.02, -0.015, 0.01, -0.01, 0.0]
    assert paired_randomization([0.5 + n for n in noise], [0.5] * 12, seed=1) > 0.3
    assert paired_randomization([0.3, 0.4], [0.3, 0.4]) == 1.0
    assert paired_randomization(better, worse, seed=2) == pytest.approx(paired_randomization(better, worse, seed=2))


def test_wins_ties_losses():
    assert wins_ties_losses([0.5, 0.2, 0.3], [0.4, 0.2, 0.6]) == (1, 1, 1)
