"""Which prompts train and which are held out for evaluation.

The held-out set is chosen by a hash of each prompt's id over the *whole* prompt set (before ``max_prompts``
caps anything), so it does not depend on file order, on ``--max-prompts`` or on how far a run got: a resumed
run holds out exactly the same prompts and never trains on one it will later evaluate on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rlaif.prompts import PromptItem, load_prompt_items, load_prompts

_SALT = "rlaif-eval-holdout"


@dataclass
class PromptSplit:
    train: list[PromptItem]
    held_out: list[PromptItem]


def holdout_count(holdout: float | int, total: int) -> int:
    """How many of ``total`` prompts to hold out; at least one stays for training."""
    if total < 2 or not holdout:
        return 0
    if holdout >= 1:
        count = int(holdout)
    else:
        count = max(1, round(holdout * total))
    return min(count, total - 1)


def _rank(item: PromptItem) -> str:
    return hashlib.sha256(f"{_SALT}:{item.id}".encode()).hexdigest()


def split_items(items: list[PromptItem], holdout: float | int) -> PromptSplit:
    """Hold out the ``holdout_count`` items with the smallest id hashes; both parts keep the file order."""
    count = holdout_count(holdout, len(items))
    held = {item.id for item in sorted(items, key=_rank)[:count]}
    return PromptSplit(
        train=[item for item in items if item.id not in held],
        held_out=[item for item in items if item.id in held],
    )


def prompt_split(config: Any, train: bool = True) -> PromptSplit:
    """The run's training prompts (capped by ``max_prompts``) and held-out prompts (capped by ``eval.max_prompts``).

    Nothing is held out when evaluation is disabled or the run does not train (there is no trained model to
    evaluate, so every prompt makes preference data).
    """
    section = config.settings.eval
    if not (train and section.enabled) or not section.holdout:
        return PromptSplit(load_prompts(config), [])
    everything = load_prompt_items(
        config.settings.prompts, config.base_dir, config.settings.prompt_field, config.settings.id_field, None
    )
    split = split_items(everything, section.holdout)
    if config.settings.max_prompts is not None:
        split.train = split.train[: config.settings.max_prompts]
    if section.max_prompts is not None:
        split.held_out = split.held_out[: section.max_prompts]
    return split
