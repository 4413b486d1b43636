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


def constitution_rewards(constitution: Any, registry: Any) -> tuple[list[Reward], list[float]]:
    """The rewards attached to principles (``rewards: [name | {name, options}]``), weighted by the principle."""
    from rlaif.rewards.build import build_reward

    funcs: list[Reward] = []
    weights: list[float] = []
    for principle in constitution.principles:
        for index, entry in enumerate(principle.rewards):
            name, options = (
                (entry, {}) if isinstance(entry, str) else (entry["name"], entry.get("options", {}))
            )
            funcs.append(
                build_reward(name, options, registry, f"principles[{principle.id}].rewards[{index}]")
            )
            weights.append(float(principle.weight))
    return funcs, weights
