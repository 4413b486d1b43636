"""The ensemble judge: several judges and/or several principles vote on each comparison.

Each member judge compares every pair under every principle in the ensemble; the verdict is the mean of their
probabilities (``combine: mean``) or the share of members that prefer ``a`` (``combine: vote``, ties count
half). The details keep each member's probability, the per-principle mean (a score vector, not just a
winner) and how much the members disagreed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rlaif.constitution import Principle
from rlaif.judges.arithmetic import apply_tie_band
from rlaif.judges.members import MEMBER_SCHEMA, build_member
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

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "members": {
            "type": "array",
            "items": MEMBER_SCHEMA,
            "minItems": 1,
            "default": [{"name": "pairwise"}],
            "description": "Member judges: [{name, model, options}]. `model` is a role or spec string.",
        },
        "principles": {
            "type": "array",
            "items": PRINCIPLE_ITEM,
            "description": "Judge every pair under each of these principles (judging questions) instead of "
            "only the comparison's own principle. The comparison's principle is always included.",
        },
        "combine": {"enum": ["mean", "vote"], "default": "mean"},
        "tie_band": {"type": "number", "minimum": 0, "maximum": 0.5, "default": 0.0},
    },
}


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
    ):
        self.members = list(members)
        self.principles = list(principles)
        self.combine = combine
        self.tie_band = tie_band

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
                                if k.startswith(("p_a_order", "score_", "rationale"))
                            },
                        }
                    )
        verdicts = []
        for index in range(n):
            votes = per_item[index]
            probabilities = [v["p_a"] for v in votes]
            combined = (
                sum(probabilities) / len(probabilities)
                if self.combine == "mean"
                else vote_share(probabilities)
            )
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
            }
            for key in ("p_a_order_ab", "p_a_order_ba"):
                values = [v[key] for v in votes if v.get(key) is not None]
                if len(values) == len(votes):
                    details[key] = sum(values) / len(values)
            verdicts.append(Verdict(p_a, details))
        return verdicts


def ensemble_factory(options: dict[str, Any], context: Any) -> EnsembleJudge:
    """Several member judges and/or principles; mean probability or majority vote, disagreement reported."""
    members_config = options.get("members") or [{"name": "pairwise"}]
    members = []
    for index, member in enumerate(members_config):
        label = member["name"] + (f"@{member['model']}" if member.get("model") else "")
        members.append((f"{index}:{label}", build_member(member, context, f"judge.options.members.{index}")))
    principles = [_as_principle(item, i) for i, item in enumerate(options.get("principles") or [])]
    return EnsembleJudge(
        members, principles, combine=options.get("combine", "mean"), tie_band=options.get("tie_band", 0.0)
    )
