"""Step 3: which candidates agree with the labels, and which set of them reconstructs the labels best (pure).

Verdicts are ``P(chosen wins)`` per pair (the judge's soft label, oriented to the labels). A principle *agrees* on a
pair when that probability is above 1/2 (1), disagrees below (0), and half-agrees on a tie (1/2), as in
``rlaif judge-eval``. A candidate is *kept* when the lower end of the 95% Wilson interval of its agreement is above
``min_lower_bound`` (default 0.5: better than chance with 95% confidence, not by luck on a small tuning split).

A set of principles judges a pair by the weight-averaged ``P(chosen wins)`` of its principles -- what an ensemble
over the constitution's principles would say -- and the set's agreement is that verdict's agreement. Greedy
selection starts from a base set (the starting constitution when it is extended, else nothing: agreement 1/2)
and adds, one at a time, the kept candidate that raises the set's agreement on the tuning split most (ties: the
higher own agreement, then the earlier candidate), stopping when nothing raises it or ``max_principles`` are in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rlaif.judges.evaluation import TIE_EPS, agreement_value, wilson_interval


@dataclass(frozen=True)
class Agreement:
    """Agreement with the labels: the mean (ties = 1/2), how many pairs, and the 95% Wilson interval."""

    agreement: float
    n: int
    interval: tuple[float, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "agreement": round(self.agreement, 4),
            "n": self.n,
            "interval": [round(self.interval[0], 4), round(self.interval[1], 4)],
        }


def agreement_of(values: Sequence[float]) -> Agreement:
    """Mean agreement and Wilson interval of per-pair agreement values (1, 0 or 1/2)."""
    n = len(values)
    total = float(sum(values))
    return Agreement(total / n if n else float("nan"), n, wilson_interval(total, n))


def agreements(p_chosen: Sequence[float]) -> list[float]:
    return [agreement_value(p) for p in p_chosen]


def combined(columns: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Per pair: the weight-averaged P(chosen) of several principles (0.5 where no weight or no principle)."""
    if not columns:
        return []
    n = len(columns[0])
    total = float(sum(weights))
    if total <= 0:
        return [0.5] * n
    return [sum(w * col[i] for col, w in zip(columns, weights, strict=True)) / total for i in range(n)]


def set_agreement(columns: Sequence[Sequence[float]], weights: Sequence[float], n: int) -> Agreement:
    """Agreement of a set of principles (the empty set ties every pair: 1/2)."""
    if not columns:
        return agreement_of([0.5] * n)
    return agreement_of(agreements(combined(columns, weights)))


def picks_longer(p_chosen: Sequence[float], chosen_longer: Sequence[float]) -> float:
    """How often the verdict picks the longer response (ties and equal lengths count 1/2)."""
    values = []
    for p, longer in zip(p_chosen, chosen_longer, strict=True):
        if abs(p - 0.5) <= TIE_EPS or longer == 0.5:
            values.append(0.5)
        else:
            values.append(1.0 if (p > 0.5) == (longer == 1.0) else 0.0)
    return sum(values) / len(values) if values else float("nan")


@dataclass
class Selection:
    kept: list[str]
    """Candidates whose Wilson lower bound is above the threshold, in candidate order."""
    selected: list[str]
    """The greedy choice, in the order it was added."""
    steps: list[dict[str, object]] = field(default_factory=list)
    """Set agreement on the tuning split after each addition (the base first)."""
    scores: dict[str, Agreement] = field(default_factory=dict)


def select_principles(
    candidates: Mapping[str, Sequence[float]],
    base: Sequence[tuple[Sequence[float], float]] = (),
    max_principles: int = 5,
    min_lower_bound: float = 0.5,
    n: int | None = None,
) -> Selection:
    """Keep candidates above chance with confidence, then add them greedily while set agreement improves.

    ``candidates``: id -> P(chosen) per tuning pair (dict order is the tie-break order); ``base``: the starting
    set as (P(chosen) column, weight). Every candidate gets weight 1.
    """
    size = n if n is not None else len(next(iter(candidates.values()), base[0][0] if base else []))
    scores = {cid: agreement_of(agreements(col)) for cid, col in candidates.items()}
    kept = [cid for cid, score in scores.items() if score.n and score.interval[0] > min_lower_bound]
    columns = [list(col) for col, _ in base]
    weights = [w for _, w in base]
    current = set_agreement(columns, weights, size)
    steps: list[dict[str, object]] = [{"added": None, **current.to_dict()}]
    selected: list[str] = []
    while len(selected) < max_principles:
        best: tuple[tuple[float, float, int], str, Agreement] | None = None
        for order, cid in enumerate(kept):
            if cid in selected:
                continue
            trial = set_agreement([*columns, candidates[cid]], [*weights, 1.0], size)
            rank = (trial.agreement, scores[cid].agreement, -order)
            if best is None or rank > best[0]:
                best = (rank, cid, trial)
        if best is None or best[2].agreement <= current.agreement:
            break
        _, cid, current = best
        selected.append(cid)
        columns.append(list(candidates[cid]))
        weights.append(1.0)
        steps.append({"added": cid, **current.to_dict()})
    return Selection(kept=kept, selected=selected, steps=steps, scores=scores)
