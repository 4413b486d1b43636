"""Fitted ensembles: learn how much to trust each member judge from human-labelled pairs.

A mean of member probabilities treats a chance-level member like a good one. A fitted ensemble instead
combines members in log-odds space with learned weights, optionally plus a length term:

    p_a = sigmoid( sum_i w_i * logit(p_a of member i) + w_len * log((1 + len(a)) / (1 + len(b))) )

The weights come from an L2-regularised logistic regression **without intercept** on labelled pairs (the
tuning half of a file, never the pairs it is then measured on). No intercept and antisymmetric features keep
the verdict order-consistent: swapping a and b turns p_a into 1 - p_a exactly. The length term is optional
and reported on its own, so how much of a fitted judge is "the longer one wins" stays visible.

Library: :func:`fit_logistic` (the arithmetic), :func:`fit_ensemble` (run the members over pairs, fit, return
a :class:`FittedEnsemble`), :func:`fit_ensemble_on_file` (``rlaif judge fit-ensemble``). The saved JSON is
what the ensemble judge's ``fitted`` option loads.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.judges.arithmetic import logit, sigmoid

FORMAT = "rlaif-fitted-ensemble/1"
LOGIT_CLIP = 1e-4


def member_logit(p: float) -> float:
    """A member's log-odds, clipped at ``LOGIT_CLIP`` so a saturated member cannot dominate without bound."""
    return logit(p, LOGIT_CLIP)


def length_feature(a: str, b: str) -> float:
    """The length term: log((1 + chars of a) / (1 + chars of b)); positive when a is longer, antisymmetric."""
    return math.log((1 + len(a)) / (1 + len(b)))


def combine_weighted(
    member_logits: Sequence[float],
    weights: Sequence[float],
    length_weight: float = 0.0,
    length: float = 0.0,
) -> float:
    """P(a better) from member log-odds, their weights and the (weighted) length term."""
    if len(member_logits) != len(weights):
        raise ValueError(f"{len(member_logits)} member log-odds but {len(weights)} weights")
    z = sum(w * x for w, x in zip(weights, member_logits, strict=True)) + length_weight * length
    return sigmoid(z)


def fit_logistic(
    features: Sequence[Sequence[float]],
    labels: Sequence[float],
    l2: float = 1.0,
    iterations: int = 100,
    tolerance: float = 1e-10,
) -> list[float]:
    """Weights of a logistic regression without intercept: minimise the log-loss + ``l2`` / 2 * |w|^2 (Newton).

    ``labels`` are 1 (a preferred) or 0 (b preferred); a 0.5 label (a tie) counts as half of each.
    """
    import numpy as np

    x = np.asarray(features, dtype=float)
    y = np.asarray(labels, dtype=float)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError("features must be a non-empty (pairs x features) table with one label per pair")
    if l2 < 0:
        raise ValueError("l2 must be >= 0")
    w = np.zeros(x.shape[1])
    ridge = l2 * np.eye(x.shape[1]) + 1e-9 * np.eye(x.shape[1])  # tiny jitter: separable data stays solvable
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + ridge
        step = np.linalg.solve(hessian, gradient)
        w = w - step
        if float(np.max(np.abs(step))) < tolerance:
            break
    return [float(v) for v in w]


def agreement_of(probabilities: Sequence[float], labels: Sequence[float]) -> float:
    """Share of pairs where p_a is on the label's side (p exactly 0.5 counts half)."""
    hits = [
        0.5 if p == 0.5 else float((p > 0.5) == (y > 0.5)) for p, y in zip(probabilities, labels, strict=True)
    ]
    return sum(hits) / len(hits)


@dataclass
class FittedEnsemble:
    """Members, their fitted weights and the optional length weight; what ``ensemble`` loads with ``fitted``."""

    members: list[dict[str, Any]]
    weights: list[float]
    length_weight: float | None = None
    """None: fitted without the length term (the verdict does not look at length directly)."""
    training: dict[str, Any] = field(default_factory=dict)

    def weights_without_length(self) -> list[float]:
        """The member weights of the fit without the length term (the same as ``weights`` without one)."""
        if self.length_weight is None:
            return list(self.weights)
        saved = self.training.get("weights_without_length")
        if not isinstance(saved, list) or len(saved) != len(self.weights):
            raise RlaifError("this fitted ensemble does not record its fit without the length term")
        return [float(w) for w in saved]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> FittedEnsemble:
        from rlaif.files import load_json

        if not Path(path).exists():
            raise RlaifError(
                f"fitted ensemble '{path}' does not exist",
                hint="Make one with `rlaif judge fit-ensemble --data PAIRS.jsonl --member ... -o FILE`.",
            )
        data = load_json(path, "fitted ensemble")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RlaifError(f'\'{path}\' is not a fitted ensemble (expected "format": "{FORMAT}")')
        members, weights = data.get("members"), data.get("weights")
        if not isinstance(members, list) or not isinstance(weights, list) or len(members) != len(weights):
            raise RlaifError(
                f"fitted ensemble '{path}': members and weights must be lists of the same length"
            )
        return cls(
            members, [float(w) for w in weights], data.get("length_weight"), data.get("training") or {}
        )


def member_features(per_pair: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[list[float]]:
    """Each pair's mean log-odds per member (over the principles it was judged under), from ensemble details."""
    rows = []
    for entry in per_pair:
        by_member: dict[str, list[float]] = {}
        for vote in entry["details"]["members"]:
            by_member.setdefault(vote["judge"], []).append(member_logit(vote["p_a"]))
        rows.append([sum(by_member[label]) / len(by_member[label]) for label in labels])
    return rows


def fit_ensemble(
    judge: Any,
    pairs: Sequence[Any],
    principle: Any,
    members: Sequence[dict[str, Any]],
    use_length: bool = False,
    l2: float = 1.0,
    batch_size: int = 1,
    progress: bool = False,
) -> FittedEnsemble:
    """Run ``judge`` (an unweighted :class:`~rlaif.judges.ensemble.EnsembleJudge` of ``members``) over labelled
    ``pairs`` and fit member weights (and a length weight with ``use_length``).

    ``training`` records each member's agreement alone, "longer wins", the fit without the length term and
    (with ``use_length``) the fit with it, all on these training pairs.
    """
    from rlaif.judges.evaluation import evaluate_judge

    started = time.perf_counter()
    result = evaluate_judge(
        judge, pairs, principle, batch_size=batch_size, check_position=False, progress=progress
    )
    labels = [str(label) for label, _ in judge.members]
    features = member_features(result.per_pair, labels)
    targets = [1.0 if entry["chosen_is_a"] else 0.0 for entry in result.per_pair]
    lengths = []
    for pair, entry in zip(pairs, result.per_pair, strict=True):
        a, b = (pair.chosen, pair.rejected) if entry["chosen_is_a"] else (pair.rejected, pair.chosen)
        lengths.append(length_feature(a, b))

    weights = fit_logistic(features, targets, l2=l2)
    without_length = [combine_weighted(row, weights) for row in features]
    training: dict[str, Any] = {
        "n": len(pairs),
        "l2": l2,
        "member_labels": labels,
        "member_agreement": {
            label: agreement_of([sigmoid(row[i]) for row in features], targets)
            for i, label in enumerate(labels)
        },
        "longer_wins_agreement": agreement_of([sigmoid(x) if x else 0.5 for x in lengths], targets),
        "fit_agreement_without_length": agreement_of(without_length, targets),
        "weights_without_length": weights,
    }
    length_weight = None
    if use_length:
        fitted = fit_logistic([[*row, x] for row, x in zip(features, lengths, strict=True)], targets, l2=l2)
        weights, length_weight = fitted[:-1], fitted[-1]
        with_length = [
            combine_weighted(row, weights, length_weight, x) for row, x in zip(features, lengths, strict=True)
        ]
        training["fit_agreement_with_length"] = agreement_of(with_length, targets)
    training["seconds"] = round(time.perf_counter() - started, 1)
    return FittedEnsemble([dict(m) for m in members], weights, length_weight, training)
