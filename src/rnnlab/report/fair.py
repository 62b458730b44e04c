"""A fair comparison of backbones: each at the learning rate its validation score chose, with
a 95 % interval on every number and on every difference.

A sweep over backbone × learning rate × seed (× data sets) gives, per run, the task's metric
on the validation split and on the test split. For each data set and backbone the rate with
the best mean *validation* score is chosen; the *test* score at that rate is reported, so a
test score never chooses anything. Seeds are paired: the same seed gives every backbone the
same data, initialisation draw and batch order, so each backbone's difference to the best is
taken seed by seed, and called a tie when its interval holds 0.

Intervals are Student t over the seeds (``n`` of them): with three seeds the t quantile is
4.30, so only large differences are told apart.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with the half-width of its ``LEVEL`` Student-t interval over ``n`` values
    (nan half-width for one value: no spread known)."""

    mean: float
    half: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def holds(self, value: float) -> bool:
        return not math.isnan(self.half) and self.low <= value <= self.high


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean and half-width ``t_{(1+level)/2, n-1} · s / sqrt(n)`` of ``values``."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    mean = statistics.fmean(values)
    if n == 1:
        return Interval(mean, math.nan, 1)
    # scipy only here: this module is loaded with the sweep report by every train.py
    from scipy.stats import t as student_t

    quantile = float(student_t.ppf((1 + level) / 2, n - 1))
    return Interval(mean, quantile * statistics.stdev(values) / math.sqrt(n), n)


def paired_difference(
    values: dict[Any, float], reference: dict[Any, float], level: float = LEVEL
) -> Interval:
    """The interval of ``values[s] - reference[s]`` over the seeds both have."""
    seeds = sorted(set(values) & set(reference), key=str)
    return t_interval([values[s] - reference[s] for s in seeds], level)


@dataclass(frozen=True)
class Entry:
    """One run of the sweep: where it sits and what it scored."""

    dataset: tuple[tuple[str, str], ...]  # the swept settings other than backbone, rate, seed
    backbone: str
    rate: float
    seed: Any
    val: float | None
    test: float | None


@dataclass
class Choice:
    """One backbone on one data set at the rate its validation scores chose."""

    dataset: tuple[tuple[str, str], ...]
    backbone: str
    rate: float
    val: Interval
    test: Interval
    test_by_seed: dict[Any, float]
    val_by_rate: dict[float, list[float]]  # every rate's validation scores (the sensitivity)
    difference: Interval | None = None  # test - the best backbone's, paired by seed
    verdict: str = ""  # "best", "tie" or "loss"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def choose_rates(entries: Iterable[Entry], goal: str) -> list[Choice]:
    """For each (data set, backbone) the rate whose mean validation score is best (``goal``
    ``min`` or ``max``; a rate whose runs failed or have no validation score is never
    chosen), with the test scores at that rate."""
    groups: dict[tuple, dict[float, list[Entry]]] = {}
    for e in entries:
        groups.setdefault((e.dataset, e.backbone), {}).setdefault(e.rate, []).append(e)
    sign = -1.0 if goal == "max" else 1.0
    choices = []
    for (dataset, backbone), by_rate in groups.items():
        vals = {r: [e.val for e in es if _finite(e.val)] for r, es in by_rate.items()}
        scored = {r: statistics.fmean(v) for r, v in vals.items() if v}
        if not scored:
            continue
        rate = min(scored, key=lambda r: (sign * scored[r], r))
        chosen = [e for e in by_rate[rate] if _finite(e.test)]
        by_seed = {e.seed: float(e.test) for e in chosen}
        choices.append(
            Choice(dataset, backbone, rate, t_interval(vals[rate]),
                   t_interval(list(by_seed.values())), by_seed,
                   {r: v for r, v in sorted(vals.items())})
        )  # fmt: skip
    return choices


def judge(choices: list[Choice], goal: str, level: float = LEVEL) -> None:
    """Per data set: the best backbone by mean test score, and every other backbone's
    paired difference to it; a ``tie`` when that interval holds 0, else a ``loss``."""
    sign = -1.0 if goal == "max" else 1.0
    for dataset in dict.fromkeys(c.dataset for c in choices):
        here = [c for c in choices if c.dataset == dataset and c.test.n]
        if not here:
            continue
        best = min(here, key=lambda c: sign * c.test.mean)
        for c in here:
            if c is best:
                c.verdict, c.difference = "best", None
                continue
            c.difference = paired_difference(c.test_by_seed, best.test_by_seed, level)
            c.verdict = "tie" if c.difference.holds(0.0) or c.difference.n < 2 else "loss"


@dataclass
class Tally:
    """Wins, ties and losses of one backbone over the data sets: a win is the best result
    with every other backbone's difference to it outside 0, a tie the best with a tie
    beside it or a result tied with the best, a loss a result worse than the best's."""

    wins: int = 0
    ties: int = 0
    losses: int = 0
    datasets: list[str] = field(default_factory=list)


def tally(choices: list[Choice]) -> dict[str, Tally]:
    """Wins, ties and losses per backbone (``judge`` first)."""
    out: dict[str, Tally] = {}
    for dataset in dict.fromkeys(c.dataset for c in choices):
        here = [c for c in choices if c.dataset == dataset and c.verdict]
        tied = any(c.verdict == "tie" for c in here)
        for c in here:
            row = out.setdefault(c.backbone, Tally())
            row.datasets.append(", ".join(f"{k}={v}" for k, v in dataset) or "the data")
            if c.verdict == "best" and not tied:
                row.wins += 1
            elif c.verdict in ("best", "tie"):
                row.ties += 1
            else:
                row.losses += 1
    return out
