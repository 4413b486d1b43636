"""The ensemble judge: several judges and/or several principles vote on each comparison.

Each member judge compares every pair under every principle in the ensemble; the verdict is the mean of their
probabilities (``combine: mean``), the share of members that prefer ``a`` (``combine: vote``, ties count
half), or a weighted sum of their log-odds, optionally plus a length term (``combine: weighted`` with
``weights`` / ``length_weight``, or weights fitted on labelled pairs and loaded with ``fitted: FILE``; see
:mod:`rlaif.judges.fitting`). The details keep each member's probability, the per-principle mean (a score vector, not just a
winner) and how much the members disagreed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from rlaif.constitution import Principle
from rlaif.errors import RlaifError
from rlaif.judges.arithmetic import apply_tie_band
from rlaif.judges.fitting import FittedEnsemble, combine_weighted, length_feature, member_logit
from rlaif.judges.members import MEMBER_SCHEMA, build_member
from rlaif.options import UNSET, option
from rlaif.protocols import Comparison, Judge, Verdict

PRINCIPLE_ITEM = {
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "A judging question."},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["judging_question"],
            "properties": {"id": {"type": "string"}, "judging_question": {"type": "string"}},
        },
    ]
}


@dataclass(kw_only=True)
class EnsembleOptions:
    """Options of the ensemble judge.

    ``members``, ``combine``, ``weights`` and ``fitted`` have no default on purpose: what an absent one means
    depends on the others (no ``members`` with ``fitted`` means the file's), so absent must stay absent.
    """

    members: list[dict[str, Any]] | None = option(
        UNSET,
        "Member judges: [{name, model, options}]. `model` is a role or spec string. "
        "Default: one pairwise member (unless `fitted` names them).",
        schema={"type": "array", "items": MEMBER_SCHEMA},
        minItems=1,
    )
    principles: list[Any] = option(
        [],
        "Judge every pair under each of these principles (judging questions) instead of "
        "only the comparison's own principle. The comparison's principle is always included.",
        schema={"type": "array", "items": PRINCIPLE_ITEM},
    )
    combine: Literal["mean", "vote", "weighted"] | None = option(
        UNSET,
        "mean probability, majority vote, or weighted log-odds (needs `weights`). "
        "Default: weighted when `weights` or `fitted` is given, else mean.",
    )
    weights: list[float] | None = option(
        UNSET,
        "combine: weighted: one weight per member, applied to its log-odds (mean over principles).",
        minItems=1,
    )
    length_weight: float = option(
        0.0, "combine: weighted: weight of log((1 + len(a)) / (1 + len(b))), the length term."
    )
    fitted: str | None = option(
        UNSET,
        "A fitted ensemble (`rlaif judge fit-ensemble -o FILE`): members, weights and "
        "length weight come from the file; implies combine: weighted.",
    )
    length: bool = option(
        True,
        "With `fitted`: false uses the file's fit without the length term (a file fitted "
        "with --length-feature holds both).",
    )
    tie_band: float = option(
        0.0, "Final probabilities within this distance of 0.5 become exact ties.", minimum=0, maximum=0.5
    )


def _as_principle(item: Any, index: int) -> Principle:
    if isinstance(item, str):
        return Principle(f"ensemble-{index}", "", "", item)
    return Principle(item.get("id") or f"ensemble-{index}", "", "", item["judging_question"])


def vote_share(probabilities: Sequence[float]) -> float:
    """Share of votes for ``a``: p > 0.5 is a vote for a, p == 0.5 half a vote."""
    votes = [1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0 for p in probabilities]
    return sum(votes) / len(votes)


def disagreement(probabilities: Sequence[float]) -> float:
    """Share of members on the minority side (0: unanimous, 0.5: evenly split)."""
    share = vote_share(probabilities)
    return min(share, 1.0 - share)


class EnsembleJudge:
    name = "ensemble"

    def __init__(
        self,
        members: Sequence[tuple[str, Judge]],
        principles: Sequence[Principle] = (),
        combine: str = "mean",
        tie_band: float = 0.0,
        weights: Sequence[float] | None = None,
        length_weight: float = 0.0,
    ):
        if combine not in ("mean", "vote", "weighted"):
            raise ValueError(f"combine must be mean, vote or weighted, not {combine!r}")
        if combine == "weighted" and (weights is None or len(weights) != len(members)):
            raise RlaifError(
                f"combine: weighted needs one weight per member ({len(members)} members, "
                f"{'no' if weights is None else len(weights)} weights)",
                hint="Give `weights`, or fit them on labelled pairs: rlaif judge fit-ensemble.",
            )
        self.members = list(members)
        self.principles = list(principles)
        self.combine = combine
        self.tie_band = tie_band
        self.weights = list(weights) if weights is not None else None
        self.length_weight = length_weight

    def _weighted(
        self, comparison: Comparison, votes: Sequence[dict[str, Any]]
    ) -> tuple[float, dict[str, Any]]:
        assert self.weights is not None
        member_logits = []
        for label, _ in self.members:
            values = [member_logit(v["p_a"]) for v in votes if v["judge"] == label]
            member_logits.append(sum(values) / len(values))
        length = length_feature(comparison.a, comparison.b)
        p_a = combine_weighted(member_logits, self.weights, self.length_weight, length)
        return p_a, {"member_logits": member_logits, "length_term": self.length_weight * length}

    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]:
        n = len(comparisons)
        per_item: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for label, judge in self.members:
            for extra in [None, *self.principles]:
                asked = (
                    list(comparisons) if extra is None else [replace(c, principle=extra) for c in comparisons]
                )
                for index, verdict in enumerate(judge.compare(asked)):
                    principle = asked[index].principle
                    per_item[index].append(
                        {
                            "judge": label,
                            "principle": getattr(principle, "id", None),
                            "p_a": verdict.p_a,
                            **{
                                k: v
                                for k, v in verdict.details.items()
                                if k.startswith(("p_a_order", "raw_p_a_order", "score_", "rationale"))
                                or k == "order_independent"
                            },
                        }
                    )
        verdicts = []
        for index in range(n):
            votes = per_item[index]
            probabilities = [v["p_a"] for v in votes]
            extra: dict[str, Any] = {}
            if self.combine == "weighted":
                combined, extra = self._weighted(comparisons[index], votes)
            elif self.combine == "mean":
                combined = sum(probabilities) / len(probabilities)
            else:
                combined = vote_share(probabilities)
            p_a, tie = apply_tie_band(combined, self.tie_band)
            by_principle: dict[str, list[float]] = {}
            for vote in votes:
                by_principle.setdefault(str(vote["principle"]), []).append(vote["p_a"])
            details = {
                "judge": self.name,
                "members": votes,
                "per_principle": {k: sum(v) / len(v) for k, v in by_principle.items()},
                "disagreement": disagreement(probabilities),
                "p_a_stdev": statistics.pstdev(probabilities),
                "tie": tie,
                **extra,
            }
            if self.combine != "weighted":  # a weighted verdict is not a mean of the members' orders
                for key in ("p_a_order_ab", "p_a_order_ba"):
                    values = [v[key] for v in votes if v.get(key) is not None]
                    if len(values) == len(votes):
                        details[key] = sum(values) / len(values)
            if all(v.get("order_independent") for v in votes):
                details["order_independent"] = True
            verdicts.append(Verdict(p_a, details))
        return verdicts


def check_options(options: dict[str, Any]) -> list[Any]:
    """``rlaif config check``: weights match the members, a fitted file exists and is one, no conflicts."""
    from rlaif.errors import Problem

    problems = []
    weights = options.get("weights")
    if options.get("fitted"):
        if options.get("members") or weights is not None:
            problems.append(Problem("give either `fitted` or `members`/`weights`, not both", where="fitted"))
        try:
            FittedEnsemble.load(options["fitted"])
        except RlaifError as exc:
            problems.append(Problem(str(exc), where="fitted"))
        return problems
    members = options.get("members") or [{"name": "pairwise"}]
    if weights is not None and len(weights) != len(members):
        problems.append(
            Problem(
                f"{len(weights)} weights for {len(members)} members: give one per member", where="weights"
            )
        )
    if options.get("combine") == "weighted" and weights is None:
        problems.append(
            Problem(
                "combine: weighted needs `weights` (or `fitted`: rlaif judge fit-ensemble)", where="combine"
            )
        )
    return problems


def ensemble_factory(options: dict[str, Any], context: Any) -> EnsembleJudge:
    """Several member judges and/or principles; mean probability, majority vote or fitted weights."""
    weights = options.get("weights")
    length_weight = options.get("length_weight", 0.0)
    combine = options.get("combine", "weighted" if weights is not None else "mean")
    members_config = options.get("members") or [{"name": "pairwise"}]
    if options.get("fitted"):
        if options.get("members") or weights is not None:
            raise RlaifError(
                "ensemble: give either `fitted` or `members`/`weights`, not both",
                hint="A fitted ensemble file holds its members and weights.",
            )
        if combine != "weighted" and "combine" in options:
            raise RlaifError(f"ensemble: a fitted ensemble combines by weighted log-odds, not {combine!r}")
        fitted = FittedEnsemble.load(options["fitted"])
        members_config, weights, combine = fitted.members, fitted.weights, "weighted"
        length_weight = fitted.length_weight or 0.0
        if not options.get("length", True):
            weights, length_weight = fitted.weights_without_length(), 0.0
    members = []
    for index, member in enumerate(members_config):
        label = member["name"] + (f"@{member['model']}" if member.get("model") else "")
        members.append((f"{index}:{label}", build_member(member, context, f"judge.options.members.{index}")))
    principles = [_as_principle(item, i) for i, item in enumerate(options.get("principles") or [])]
    return EnsembleJudge(
        members,
        principles,
        combine=combine,
        tie_band=options.get("tie_band", 0.0),
        weights=weights,
        length_weight=length_weight,
    )
