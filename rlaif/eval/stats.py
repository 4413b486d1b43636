"""Small-sample intervals: a mean (over seeds, runs or prompts, or a paired change) with its Student t interval.

With the handful of values a CPU can afford (5 seeds, 8-16 held-out prompts) the normal 1.96 is too narrow: at
n = 5 the 95% multiplier is 2.78. An eval compares two models on the *same* held-out prompts, so a reward's change
is measured per prompt (after minus before) and its interval comes from those paired differences, far tighter than
comparing two independent means. The t quantile is computed exactly (the closed-form t CDF for integer degrees of
freedom, inverted by bisection), so no SciPy.

Two shapes of the same figure: :func:`t_interval` gives a :class:`MeanInterval` (benchmarks over seeds),
:func:`mean_interval` the ``{"mean", "ci95", "n"}`` mapping eval files and reports store as JSON.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def t_two_sided_probability(t: float, df: int) -> float:
    """P(|T| <= t) for Student's T with ``df`` (integer >= 1) degrees of freedom.

    Abramowitz & Stegun 26.7.3/26.7.4: a finite sum in cos(theta), theta = atan(t / sqrt(df)).
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    t = abs(t)
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:  # odd: (2/pi) (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term, total = 1.0, 0.0
        if df > 1:
            total = 1.0
            for k in range(1, (df - 3) // 2 + 1):
                term *= c2 * (2 * k) / (2 * k + 1)
                total += term
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    term, total = 1.0, 1.0  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
    for k in range(1, (df - 2) // 2 + 1):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def t_quantile(confidence: float, df: int) -> float:
    """The t with P(|T| <= t) = ``confidence`` (e.g. 0.95, df 4 -> 2.776): the two-sided interval's multiplier."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    low, high = 0.0, 1.0
    while t_two_sided_probability(high, df) < confidence:
        high *= 2
    for _ in range(200):  # bisection to float precision
        mid = (low + high) / 2
        if t_two_sided_probability(mid, df) < confidence:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * high:
            break
    return (low + high) / 2


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom: the 95% two-sided multiplier."""
    return t_quantile(0.95, df)


@dataclass(frozen=True)
class MeanInterval:
    """A sample mean with its two-sided Student t interval (``low``/``high`` None when n < 2)."""

    n: int
    mean: float
    low: float | None
    high: float | None
    confidence: float = 0.95
    method: str = "Student t over independent runs"

    def above(self, threshold: float = 0.0) -> bool:
        """True when the whole interval lies above ``threshold`` (the mean is above it with this confidence)."""
        return self.low is not None and self.low > threshold

    def below(self, threshold: float = 0.0) -> bool:
        """True when the whole interval lies below ``threshold``."""
        return self.high is not None and self.high < threshold

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "mean": self.mean,
            "ci": [self.low, self.high] if self.low is not None else None,
            "confidence": self.confidence,
            "method": self.method,
        }


def t_interval(values: Sequence[float], confidence: float = 0.95) -> MeanInterval:
    """Mean of ``values`` with its Student t interval (values: one per independent run, e.g. per seed)."""
    n = len(values)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = math.fsum(values) / n
    if n < 2:
        return MeanInterval(n, mean, None, None, confidence)
    half = t_quantile(confidence, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return MeanInterval(n, mean, mean - half, mean + half, confidence)


def intervals_over_runs(
    runs: Sequence[dict[str, float]], fields: Sequence[str], confidence: float = 0.95
) -> dict[str, MeanInterval]:
    """Each field's mean over independent runs (one dict per run, e.g. per seed) with its t interval.

    A run that lacks a field (or holds None) is left out of that field's figure, so one failed measurement
    narrows n instead of poisoning the mean; a field no run has is left out of the result.
    """
    out = {}
    for name in fields:
        values = [float(run[name]) for run in runs if run.get(name) is not None]
        if values:
            out[name] = t_interval(values, confidence)
    return out


def mean_interval(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "ci95", "n"}``: the mean and its two-sided 95% t interval (None with fewer than 2 values).

    With every value equal the interval collapses to the mean: the data show no spread, which is what a reader
    should see rather than an invented width.
    """
    n = len(values)
    if not n:
        return {"mean": None, "ci95": None, "n": 0}
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "ci95": None, "n": n}
    figure = t_interval(values)
    return {"mean": figure.mean, "ci95": [figure.low, figure.high], "n": n}


def paired_change(before: Sequence[float | None], after: Sequence[float | None]) -> dict[str, Any]:
    """The mean of ``after - before`` over the items scored on both sides, with its 95% t interval.

    ``above_zero`` / ``below_zero`` say whether the whole interval lies on one side of zero, the plain-words
    answer to "did it change" (both False: the data cannot tell).
    """
    differences = [
        float(a) - float(b) for b, a in zip(before, after, strict=True) if a is not None and b is not None
    ]
    result = mean_interval(differences)
    ci = result["ci95"]
    result["above_zero"] = bool(ci and ci[0] > 0)
    result["below_zero"] = bool(ci and ci[1] < 0)
    return result


def interval_text(figure: dict[str, Any] | None, digits: int = 2, signed: bool = False) -> str:
    """``+0.12 [0.03, 0.21]`` (or ``0.12`` without an interval, ``n/a`` without a value)."""
    if not figure or figure.get("mean") is None:
        return "n/a"
    sign = "+" if signed else ""
    text = f"{figure['mean']:{sign}.{digits}f}"
    if figure.get("ci95"):
        low, high = figure["ci95"]
        text += f" [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"
    return text
