"""Verdict arithmetic shared by the judges: probabilities from label log-probs, order combination, clamping,
tie bands, expected scores and score-difference logistics.

Kept apart from any model so every rule here is unit-tested with plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def logit(p: float, clip: float = 1e-6) -> float:
    """Log-odds of ``p``, clipped to [clip, 1 - clip] so a saturated probability stays finite."""
    p = min(max(p, clip), 1.0 - clip)
    return math.log(p / (1.0 - p))


def softmax(logprobs: Mapping[str, float]) -> dict[str, float]:
    """Renormalise label log-probs into a distribution over just those labels."""
    top = max(logprobs.values())
    weights = {label: math.exp(value - top) for label, value in logprobs.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


def two_way_probability(logprobs: Mapping[str, float], labels: Sequence[str] = ("A", "B")) -> float:
    """P(first label) renormalised over the two labels (softmax of their log-probs)."""
    return softmax({label: logprobs[label] for label in labels[:2]})[labels[0]]


def combine_orders(values: Sequence[float], method: str = "logit") -> float:
    """Combine P(a wins) from each order: mean log-odds (default; cancels a constant position bias) or mean."""
    if method == "mean" or len(values) == 1:
        return sum(values) / len(values)
    return sigmoid(sum(logit(v) for v in values) / len(values))


def clamp(p: float, low: float, high: float) -> float:
    """Keep a probability inside [low, high] (the CAI paper clamps CoT verdicts to 40-60%)."""
    return min(max(p, low), high)


def apply_tie_band(p: float, band: float) -> tuple[float, bool]:
    """Within ``band`` of 0.5 the verdict is a tie: ``(0.5, True)``; otherwise ``(p, False)``."""
    if band > 0 and abs(p - 0.5) < band:
        return 0.5, True
    return p, False


def exclusive_label_probabilities(logprobs: Mapping[str, float]) -> dict[str, float]:
    """Turn "reply starts with label" log-probs into probabilities of exactly that label.

    A backend reports P(reply starts with "1"), which also counts replies "10": the mass of every label that
    extends another (``"10"`` extends ``"1"``) is subtracted from the shorter one before renormalising.
    """
    probs = {label: math.exp(value) for label, value in logprobs.items()}
    exact = {}
    for label, p in probs.items():
        longer = sum(q for other, q in probs.items() if other != label and other.startswith(label))
        exact[label] = max(p - longer, 0.0)
    total = sum(exact.values())
    if total <= 0:
        return {label: 1.0 / len(exact) for label in exact}
    return {label: value / total for label, value in exact.items()}


def expected_score(logprobs: Mapping[str, float]) -> float:
    """The expectation of a numeric label distribution (labels like "1".."10"), not just its argmax."""
    probs = exclusive_label_probabilities(logprobs)
    return sum(float(label) * p for label, p in probs.items())


def preference_from_scores(score_a: float, score_b: float, temperature: float = 1.0) -> float:
    """P(a better) from two absolute scores: a logistic of their difference (Bradley-Terry)."""
    return sigmoid((score_a - score_b) / max(temperature, 1e-9))
