"""What the pipeline hands an online optimizer (``needs == "prompts"``): the prompts and the constitution's
verifiable rewards.

Online optimizers (GRPO, PPO) sample and score their own completions, so the CAI stages (answer, critique,
revise, judge) are skipped for them: pairs would cost a full generation pass and never be trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlaif.protocols import Reward


def prompts_dataset(items: Sequence[Any]):
    """A ``datasets.Dataset``: ``prompt`` (message lists), ``id``, and every prompt column (missing -> None).

    Reward functions receive the extra columns as keyword arguments (``answer``, ``tests``...), as in TRL.
    """
    from datasets import Dataset

    columns: list[str] = []
    for item in items:
        columns += [key for key in item.columns if key not in columns and key not in ("prompt", "id")]
    rows = {
        "prompt": [item.messages for item in items],
        "id": [item.id for item in items],
        **{key: [item.columns.get(key) for item in items] for key in columns},
    }
    return Dataset.from_dict(rows)


def online_scorers(optimizer: Any, request: Any) -> tuple[list[Reward], list[float]]:
    """What GRPO and PPO check before training: possible settings, some prompts, at least one reward.

    Returns the reward functions and weights built from the request's rewards plus the optimizer's own
    ``rewards:`` / ``judges:`` options.
    """
    from rlaif.errors import RlaifError
    from rlaif.optimizers.scorers import build_scorers

    label = optimizer.name.upper()
    problems = optimizer.check()
    if problems:
        raise RlaifError(f"impossible {label} settings", problems)
    if request.prompts is None or len(request.prompts) == 0:
        raise RlaifError(f"{label} needs prompts to train on (TrainRequest.prompts is empty)")
    funcs, weights = build_scorers(
        optimizer.options, request.rewards, request.reward_weights, request.context
    )
    if not funcs:
        raise RlaifError(
            f"{label} needs at least one reward: set optimizer.options.rewards or judges",
            hint="e.g. rewards: [{name: length, options: {max: 30}}]",
        )
    return funcs, weights


def constitution_rewards(constitution: Any, registry: Any) -> tuple[list[Reward], list[float]]:
    """The rewards attached to principles (``rewards: [name | {name, options}]``), weighted by the principle."""
    from rlaif.rewards.build import build_reward

    funcs: list[Reward] = []
    weights: list[float] = []
    for principle in constitution.principles:
        for index, (name, options) in enumerate(principle.reward_specs()):
            funcs.append(
                build_reward(name, options, registry, f"principles[{principle.id}].rewards[{index}]")
            )
            weights.append(float(principle.weight))
    return funcs, weights
