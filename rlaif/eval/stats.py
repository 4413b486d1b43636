"""Small-sample intervals for eval figures: a mean (or a paired change) with a Student-t 95% interval.

An eval compares two models on the *same* held-out prompts, so a reward's change is measured per prompt
(after minus before) and its interval comes from those paired differences: far tighter than comparing two
independent means, and honest about how few prompts there are (8 prompts give t = 2.36, not 1.96). Across
seeds the same function gives the interval of the mean change over seeds. No SciPy: the t quantile is a table
for small degrees of freedom and the Cornish-Fisher expansion beyond it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
"""Two-sided 95% Student-t quantiles (0.975) for 1..30 degrees of freedom."""

_Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (error < 1e-3 beyond the table)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


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
    half = t_quantile_975(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": n}


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
