"""The fair-comparison arithmetic against hand computation, and a learning rate that is never
chosen on test scores."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy.stats import t

from rnnlab.report.fair import (
    Entry,
    choose_rates,
    judge,
    paired_difference,
    t_interval,
    tally,
)


def test_t_interval_is_mean_plus_minus_t_times_the_standard_error():
    values = [1.0, 2.0, 4.0]
    interval = t_interval(values)
    s = statistics.stdev(values)  # sqrt(7/3)
    assert interval.mean == pytest.approx(7 / 3)
    assert interval.half == pytest.approx(t.ppf(0.975, 2) * s / math.sqrt(3))
    assert interval.half == pytest.approx(4.302653 * math.sqrt(7 / 3) / math.sqrt(3), rel=1e-6)
    assert interval.n == 3 and interval.low < 1.0 < 4.0 < interval.high
    single = t_interval([5.0])
    assert single.mean == 5.0 and math.isnan(single.half) and not single.holds(5.0)


def test_paired_differences_use_the_seeds_both_have():
    a = {1: 0.10, 2: 0.20, 3: 0.30, 9: 5.0}
    b = {1: 0.12, 2: 0.25, 3: 0.31}
    diff = paired_difference(b, a)  # b - a on seeds 1, 2, 3
    by_hand = [0.02, 0.05, 0.01]
    assert diff.n == 3 and diff.mean == pytest.approx(statistics.fmean(by_hand))
    half = t.ppf(0.975, 2) * statistics.stdev(by_hand) / math.sqrt(3)
    assert diff.half == pytest.approx(half)
    assert diff.holds(0.0) == (diff.low <= 0 <= diff.high)


def entries(backbone, by_rate, dataset=(("data", "x"),)):
    """``by_rate``: rate -> [(val, test) per seed 1, 2, 3]."""
    return [Entry(dataset, backbone, rate, seed, val, test)
            for rate, runs in by_rate.items()
            for seed, (val, test) in enumerate(runs, 1)]  # fmt: skip


def test_the_rate_is_chosen_on_validation_even_where_test_disagrees():
    # rate 0.01 is best on test, 0.001 on validation: validation decides
    runs = entries("gru", {0.001: [(0.10, 0.50), (0.11, 0.52), (0.12, 0.51)],
                           0.01: [(0.30, 0.05), (0.31, 0.06), (0.29, 0.04)]})  # fmt: skip
    (choice,) = choose_rates(runs, "min")
    assert choice.rate == 0.001
    assert choice.test.mean == pytest.approx(0.51) and choice.val.mean == pytest.approx(0.11)
    assert choice.test_by_seed == {1: 0.50, 2: 0.52, 3: 0.51}
    # for a metric to maximise the other rate wins, still on validation
    (choice,) = choose_rates(runs, "max")
    assert choice.rate == 0.01 and choice.test.mean == pytest.approx(0.05)


def test_a_failed_rate_is_never_chosen():
    runs = entries("lstm", {0.1: [(float("nan"), 9.0)] * 3, 0.001: [(0.2, 0.3)] * 3})
    (choice,) = choose_rates(runs, "min")
    assert choice.rate == 0.001


def test_verdicts_and_the_tally_over_data_sets():
    one, two = (("data", "a"),), (("data", "b"),)
    runs = [
        # data a: gru clearly best, lstm clearly worse (paired), rnn noisy: a tie
        *entries("gru", {0.01: [(0.1, 0.10), (0.1, 0.11), (0.1, 0.12)]}, one),
        *entries("lstm", {0.01: [(0.2, 0.20), (0.2, 0.21), (0.2, 0.22)]}, one),
        *entries("rnn", {0.01: [(0.3, 0.05), (0.3, 0.30), (0.3, 0.05)]}, one),
        # data b: lstm best, every other clearly worse
        *entries("gru", {0.01: [(0.1, 0.30), (0.1, 0.31), (0.1, 0.32)]}, two),
        *entries("lstm", {0.01: [(0.2, 0.10), (0.2, 0.11), (0.2, 0.12)]}, two),
        *entries("rnn", {0.01: [(0.3, 0.40), (0.3, 0.42), (0.3, 0.41)]}, two),
    ]
    choices = choose_rates(runs, "min")
    judge(choices, "min")
    verdict = {(c.dataset, c.backbone): c.verdict for c in choices}
    assert verdict[one, "gru"] == "best" and verdict[one, "lstm"] == "loss"
    assert verdict[one, "rnn"] == "tie"  # +0.0233 ± 0.31: the interval holds 0
    lstm_a = next(c for c in choices if c.dataset == one and c.backbone == "lstm")
    assert lstm_a.difference.mean == pytest.approx(0.10)
    counts = {name: (x.wins, x.ties, x.losses) for name, x in tally(choices).items()}
    assert counts == {"gru": (0, 1, 1), "lstm": (1, 0, 1), "rnn": (0, 1, 1)}
