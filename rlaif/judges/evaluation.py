"""Measuring a judge against human preference labels: agreement, position consistency, ties, calibration.

The pairs are shown in a balanced way (the human-preferred response is ``a`` on even pairs, ``b`` on odd ones),
so a judge that always answers "A" scores 0.5, not 1.0. Agreement counts a tie as half; calibration error (ECE)
compares the judge's confidence with how often it agrees, in ten confidence bins. Position consistency asks
whether the verdict survives swapping the two responses, *before* any debiasing: read from the per-order
probabilities a both-orders judge reports, 1.0 for judges that score each response on its own, and measured
with a second, swapped call for single-order judges.

Two references keep the figures honest: a 95% Wilson interval for the agreement (200 pairs still leave about
+-0.07), and the "longer response wins" baseline on the same pairs together with how often the judge itself
picked the longer response (length is a strong, cheap signal in human preference data, so a judge can look
good by measuring length). For an ensemble, every member's own agreement is reported from the same verdicts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rlaif.judges.data import PreferencePair
from rlaif.protocols import Comparison, Judge, Verdict

TIE_EPS = 1e-9


def agreement_value(p_chosen: float, tie: bool = False) -> float:
    """1 if the judge prefers the human-chosen response, 0 if the other, 0.5 for a tie."""
    if tie or abs(p_chosen - 0.5) <= TIE_EPS:
        return 0.5
    return 1.0 if p_chosen > 0.5 else 0.0


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[float], bins: int = 10
) -> float:
    """ECE: the bin-size-weighted mean |accuracy - confidence| over equal-width confidence bins.

    Confidences are in [0.5, 1] for a binary judge; ``correct`` may hold 0.5 for ties (half right).
    """
    if not confidences:
        return 0.0
    totals: dict[int, list[float]] = {}
    for confidence, hit in zip(confidences, correct, strict=True):
        index = min(int(confidence * bins), bins - 1)
        bucket = totals.setdefault(index, [0.0, 0.0, 0.0])
        bucket[0] += 1
        bucket[1] += confidence
        bucket[2] += hit
    n = len(confidences)
    return sum(count / n * abs(hits / count - conf / count) for count, conf, hits in totals.values())


def order_verdicts(details: dict[str, Any]) -> tuple[float, float] | None:
    """P(a wins) as read in each order, before debiasing, if the judge reported both."""
    ab = details.get("raw_p_a_order_ab", details.get("p_a_order_ab"))
    ba = details.get("raw_p_a_order_ba", details.get("p_a_order_ba"))
    if ab is None or ba is None:
        return None
    return float(ab), float(ba)


def same_side(p: float, q: float) -> bool:
    """Both prefer a, both prefer b (ties count as a side of their own)."""

    def side(x: float) -> int:
        return 0 if abs(x - 0.5) <= TIE_EPS else (1 if x > 0.5 else -1)

    return side(p) == side(q)


def wilson_interval(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (``successes`` may be fractional: ties count half)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # at p = 0 or 1 the bound is exactly 0 or 1; rounding would leave it just inside (0.9999999999999999 < 1.0)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return (low, high)


def longer_side(a: str, b: str) -> float:
    """1 if ``a`` is longer (characters), 0 if ``b`` is, 0.5 for equal lengths."""
    return 0.5 if len(a) == len(b) else float(len(a) > len(b))


def member_breakdown(per_pair: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """Agreement, single-order agreement and position consistency of each ensemble member (mean over the
    principles it judged under), from the ``members`` an ensemble verdict reports; None for other judges."""
    if not per_pair or not all("members" in entry["details"] for entry in per_pair):
        return None
    stats: dict[str, dict[str, list[float]]] = {}
    for entry in per_pair:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for vote in entry["details"]["members"]:
            grouped.setdefault(str(vote["judge"]), []).append(vote)
        for label, votes in grouped.items():
            p_a = sum(v["p_a"] for v in votes) / len(votes)
            p_chosen = p_a if entry["chosen_is_a"] else 1.0 - p_a
            bucket = stats.setdefault(label, {"agree": [], "single": [], "consistent": []})
            bucket["agree"].append(agreement_value(p_chosen))
            orders = [order_verdicts(v) for v in votes]
            if all(o is not None for o in orders):
                first = sum(o[0] for o in orders if o is not None) / len(orders)
                bucket["single"].append(agreement_value(first if entry["chosen_is_a"] else 1.0 - first))
                bucket["consistent"] += [float(same_side(*o)) for o in orders if o is not None]
            elif all(v.get("order_independent") for v in votes):
                bucket["consistent"] += [1.0] * len(votes)
    n = len(per_pair)
    out: dict[str, dict[str, Any]] = {}
    for label, bucket in stats.items():
        agreement = sum(bucket["agree"]) / n
        out[label] = {
            "agreement": agreement,
            "agreement_ci95": list(wilson_interval(sum(bucket["agree"]), n)),
            "single_order_agreement": sum(bucket["single"]) / n if len(bucket["single"]) == n else None,
            "position_consistency": (
                sum(bucket["consistent"]) / len(bucket["consistent"]) if bucket["consistent"] else None
            ),
        }
    return out


@dataclass
class JudgeEvaluation:
    n: int
    agreement: float
    position_consistency: float
    tie_rate: float
    mean_confidence: float
    ece: float
    pairs_per_second: float
    judge: str = ""
    seconds: float = 0.0
    single_order_agreement: float | None = None
    """Agreement from the first order alone (before combining orders), when the judge reports it."""
    agreement_ci95: tuple[float, float] | None = None
    """95% Wilson interval of ``agreement``."""
    longer_wins_agreement: float | None = None
    """The "longer response wins" baseline's agreement on the same pairs (no model)."""
    picks_longer: float | None = None
    """Share of pairs where the judge preferred the longer response (ties and equal lengths count half)."""
    members: dict[str, dict[str, Any]] | None = None
    """Ensembles: each member's agreement, interval, single-order agreement and position consistency."""
    per_pair: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("per_pair")
        return data


def evaluate_judge(
    judge: Judge,
    pairs: Sequence[PreferencePair],
    principle: Any,
    batch_size: int = 8,
    check_position: bool = True,
    progress: bool = False,
) -> JudgeEvaluation:
    """Run ``judge`` over ``pairs`` and compare its verdicts with the human labels."""
    from tqdm.auto import tqdm

    comparisons = []
    chosen_is_a = []
    for index, pair in enumerate(pairs):
        a_first = index % 2 == 0
        chosen_is_a.append(a_first)
        a, b = (pair.chosen, pair.rejected) if a_first else (pair.rejected, pair.chosen)
        comparisons.append(Comparison(pair.prompt, a, b, principle))

    verdicts: list[Verdict] = []
    elapsed = 0.0
    for start in tqdm(
        range(0, len(comparisons), batch_size), disable=not progress, desc="judging", unit="batch"
    ):
        begin = time.perf_counter()
        verdicts += judge.compare(comparisons[start : start + batch_size])
        elapsed += time.perf_counter() - begin

    consistent: list[bool | None] = []
    swap_needed = []
    for index, verdict in enumerate(verdicts):
        if verdict.details.get("order_independent"):
            consistent.append(True)
        elif (orders := order_verdicts(verdict.details)) is not None:
            consistent.append(same_side(*orders))
        else:
            consistent.append(None)
            swap_needed.append(index)
    if swap_needed and check_position:
        swapped = [
            Comparison(comparisons[i].prompt, comparisons[i].b, comparisons[i].a, principle)
            for i in swap_needed
        ]
        swapped_verdicts: list[Verdict] = []
        for start in range(0, len(swapped), batch_size):
            swapped_verdicts += judge.compare(swapped[start : start + batch_size])
        for index, verdict in zip(swap_needed, swapped_verdicts, strict=True):
            consistent[index] = same_side(verdicts[index].p_a, 1.0 - verdict.p_a)

    per_pair = []
    agreements, confidences, ties, single, longer_wins, picks_longer = [], [], [], [], [], []
    for pair, verdict, a_first, same in zip(pairs, verdicts, chosen_is_a, consistent, strict=True):
        p_chosen = verdict.p_a if a_first else 1.0 - verdict.p_a
        tie = bool(verdict.details.get("tie")) or abs(verdict.p_a - 0.5) <= TIE_EPS
        agree = agreement_value(p_chosen, tie)
        chosen_longer = longer_side(pair.chosen, pair.rejected)
        longer_wins.append(chosen_longer)
        if chosen_longer == 0.5 or tie:
            picks_longer.append(0.5)
        else:
            picks_longer.append(float((p_chosen > 0.5) == (chosen_longer == 1.0)))
        agreements.append(agree)
        ties.append(tie)
        confidences.append(max(verdict.p_a, 1.0 - verdict.p_a))
        orders = order_verdicts(verdict.details)
        if orders is not None:
            first = orders[0] if a_first else 1.0 - orders[0]
            single.append(agreement_value(first))
        per_pair.append(
            {
                "id": pair.id,
                "p_chosen": p_chosen,
                "agree": agree,
                "tie": tie,
                "position_consistent": same,
                "chosen_is_a": a_first,
                "details": verdict.details,
            }
        )
    known = [c for c in consistent if c is not None]
    n = len(pairs)
    return JudgeEvaluation(
        n=n,
        agreement=sum(agreements) / n,
        position_consistency=sum(known) / len(known) if known else float("nan"),
        tie_rate=sum(ties) / n,
        mean_confidence=sum(confidences) / n,
        ece=expected_calibration_error(confidences, agreements),
        pairs_per_second=n / elapsed if elapsed > 0 else float("inf"),
        judge=getattr(judge, "name", type(judge).__name__),
        seconds=elapsed,
        single_order_agreement=sum(single) / len(single) if len(single) == n else None,
        agreement_ci95=wilson_interval(sum(agreements), n),
        longer_wins_agreement=sum(longer_wins) / n if n else None,
        picks_longer=sum(picks_longer) / n if n else None,
        members=member_breakdown(per_pair),
        per_pair=per_pair,
    )
