"""The rewards-as-judge: a verifiable reward decides a pair when it can, a member judge otherwise.

For maths or code the reward (a checker) knows the answer; asking a language model would only add noise. The
reward scores both responses; when both scores exist and differ, ``p_a`` comes from their difference (a
logistic with ``temperature``; a 1-vs-0 checker gives a near-certain verdict). When the reward returns ``None``
for either response, or the same value for both, the fallback judge decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlaif.judges.arithmetic import preference_from_scores
from rlaif.judges.members import MEMBER_SCHEMA, build_member
from rlaif.options import option
from rlaif.protocols import Comparison, Judge, Reward, Verdict


@dataclass(kw_only=True)
class RewardsJudgeOptions:
    """Options of the rewards-as-judge."""

    reward: str = option(help="A registered reward (`rlaif plugins` lists them).")
    reward_options: dict[str, Any] = option({}, "Options of that reward.")
    columns: dict[str, Any] = option(
        {}, "Fixed reward columns passed to the reward as keyword lists (e.g. {answer: '42'})."
    )
    fallback: dict[str, Any] = option(
        {"name": "pairwise"},
        "The judge used when the reward cannot decide: {name, model, options}.",
        schema=MEMBER_SCHEMA,
    )
    temperature: float = option(
        0.1, "p_a = logistic((reward_a - reward_b) / temperature).", exclusiveMinimum=0
    )


class RewardsJudge:
    name = "rewards-as-judge"

    def __init__(
        self,
        reward: Reward,
        fallback: Judge,
        reward_name: str = "reward",
        columns: dict[str, Any] | None = None,
        temperature: float = 0.1,
    ):
        self.reward = reward
        self.fallback = fallback
        self.reward_name = reward_name
        self.columns = dict(columns or {})
        self.temperature = temperature

    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]:
        n = len(comparisons)
        prompts = [c.prompt for c in comparisons] * 2
        completions = [c.a for c in comparisons] + [c.b for c in comparisons]
        columns = {key: [value] * (2 * n) for key, value in self.columns.items()}
        scores = self.reward(prompts, completions, **columns)
        verdicts: list[Verdict | None] = [None] * n
        undecided = []
        for index in range(n):
            a, b = scores[index], scores[n + index]
            if a is None or b is None or a == b:
                undecided.append(index)
                continue
            verdicts[index] = Verdict(
                preference_from_scores(float(a), float(b), self.temperature),
                {
                    "judge": self.name,
                    "decided_by": self.reward_name,
                    "reward_a": a,
                    "reward_b": b,
                    "order_independent": True,
                    "tie": False,
                },
            )
        if undecided:
            fallback = self.fallback.compare([comparisons[i] for i in undecided])
            for index, verdict in zip(undecided, fallback, strict=True):
                a, b = scores[index], scores[n + index]
                verdicts[index] = Verdict(
                    verdict.p_a,
                    {
                        **verdict.details,
                        "judge": self.name,
                        "decided_by": getattr(self.fallback, "name", "fallback"),
                        "reward_a": a,
                        "reward_b": b,
                    },
                )
        return [v for v in verdicts if v is not None]


def rewards_judge_factory(options: dict[str, Any], context: Any) -> RewardsJudge:
    """A verifiable reward decides the pair when it can (scores differ); otherwise a fallback judge."""
    registry = context.registry
    from rlaif.rewards.build import build_reward

    reward = build_reward(options["reward"], options.get("reward_options"), registry)
    fallback = build_member(
        options.get("fallback") or {"name": "pairwise"}, context, "judge.options.fallback"
    )
    return RewardsJudge(
        reward,
        fallback,
        reward_name=options["reward"],
        columns=options.get("columns"),
        temperature=options.get("temperature", 0.1),
    )
