"""The Constitutional AI loop: generate -> critique -> revise -> judge -> one record per prompt.

Prompts move through the stages in chunks: each stage is one batched call over the whole chunk (the backend
batches further), and the chunk's records are journaled before the next chunk starts, so a crash loses at most
one chunk of work. Every choice that involves chance (principle, sampling seed) derives from
``(seed, round, prompt id)``, so a resumed run makes the same choices for the prompts it still has to do.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlaif.constitution import Constitution, Principle
from rlaif.engine.journal import Journal
from rlaif.engine.seeds import prompt_seed
from rlaif.engine.strategies import PairSettings, check_strategy, judge_revisions
from rlaif.prompts import PromptItem
from rlaif.protocols import ChatModel, Conversation, GenerationParams, Judge
from rlaif.records import DropReason, drop


@dataclass
class EngineSettings:
    answer: GenerationParams
    critique: GenerationParams
    revision: GenerationParams
    margin: float = 0.02
    chunk_size: int = 32
    seed: int = 0
    round: int = 1
    pairs: PairSettings = field(default_factory=PairSettings)


@dataclass
class EngineResult:
    pairs: int = 0
    drops: Counter = field(default_factory=Counter)
    skipped: int = 0
    usage: dict[str, dict[str, int]] = field(default_factory=dict)


_LABEL_PREFIX = re.compile(
    r"^\s*(?:\*\*)?(?:revised response|revision|rewritten response|response)\s*:\s*(?:\*\*)?\s*", re.I
)


def clean_revision(text: str) -> str:
    """Strip a leading "Revision:"-style label small models like to add."""
    return _LABEL_PREFIX.sub("", text, count=1).strip()


def critique_conversation(
    constitution: Constitution, principle: Principle, messages: Conversation, answer: str
) -> Conversation:
    """Few-shot examples (if any), then the prompt, the answer and the critique request."""
    turns: Conversation = []
    for example in constitution.examples_for(principle):
        turns += [
            {"role": "user", "content": example.prompt},
            {"role": "assistant", "content": example.response},
            {"role": "user", "content": principle.critique_request},
            {"role": "assistant", "content": example.critique},
            {"role": "user", "content": principle.revision_request},
            {"role": "assistant", "content": example.revision},
        ]
    return [
        *turns,
        *messages,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": principle.critique_request},
    ]


def revision_conversation(critique_turns: Conversation, critique: str, principle: Principle) -> Conversation:
    return [
        *critique_turns,
        {"role": "assistant", "content": critique},
        {"role": "user", "content": principle.revision_request},
    ]


def _usage(model: Any) -> dict[str, int]:
    stats = getattr(model, "usage_stats", None)
    return dict(stats()) if callable(stats) else {}


class _StageMeter:
    """Attributes each backend's usage counters (requests, tokens) to the stage that caused them."""

    def __init__(self, result: EngineResult):
        self.result = result

    def run(self, stage: str, model: Any, call: Callable[[], Any]) -> Any:
        before = _usage(model)
        out = call()
        after = _usage(model)
        totals = self.result.usage.setdefault(stage, {})
        for key, value in after.items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value - before.get(key, 0)
        return out


def run_cai(
    items: Sequence[PromptItem],
    constitution: Constitution,
    policy: ChatModel,
    critic: ChatModel,
    judge: Judge,
    settings: EngineSettings,
    journal: Journal,
    progress: bool = True,
    judge_model: ChatModel | None = None,
) -> EngineResult:
    """Run the loop over every prompt not yet in ``journal``; returns counts for this call."""
    from tqdm.auto import tqdm

    result = EngineResult()
    done = journal.done_ids
    pending = [item for item in items if item.id not in done]
    result.skipped = len(items) - len(pending)
    meter = _StageMeter(result)
    models = {
        "policy": policy.name,
        "critic": critic.name,
        "judge": getattr(judge_model, "name", None) or judge.name,
    }
    bar = tqdm(
        total=len(items),
        initial=result.skipped,
        desc=f"round {settings.round}: CAI",
        unit="prompt",
        disable=not progress,
    )
    check_strategy(settings.pairs, judge, constitution)
    run_chunk = _run_chunk
    if settings.pairs.strategy != "revision":
        from rlaif.engine.sampled import run_sampled_chunk as run_chunk
    try:
        for start in range(0, len(pending), settings.chunk_size):
            chunk = pending[start : start + settings.chunk_size]
            records = run_chunk(
                chunk, constitution, policy, critic, judge, settings, meter, models, bar, judge_model
            )
            journal.append(records)
            for record in records:
                if record["status"] == "pair":
                    result.pairs += 1
                else:
                    result.drops[record["reason"]] += 1
            bar.update(len(chunk))
    finally:
        bar.close()
    return result


def _run_chunk(
    chunk: Sequence[PromptItem],
    constitution: Constitution,
    policy: ChatModel,
    critic: ChatModel,
    judge: Judge,
    settings: EngineSettings,
    meter: _StageMeter,
    models: dict[str, str],
    bar: Any,
    judge_model: ChatModel | None,
) -> list[dict[str, Any]]:
    seeds = [prompt_seed(settings.seed, settings.round, item.id) for item in chunk]
    principles = [constitution.sample(random.Random(seed)) for seed in seeds]

    bar.set_postfix_str("answer")
    answers = meter.run(
        "answer", policy, lambda: policy.generate([i.messages for i in chunk], settings.answer, seeds)
    )
    critique_turns = [
        critique_conversation(constitution, p, item.messages, answer)
        for item, p, answer in zip(chunk, principles, answers, strict=True)
    ]
    bar.set_postfix_str("critique")
    critiques = meter.run(
        "critique", critic, lambda: critic.generate(critique_turns, settings.critique, seeds)
    )
    revision_turns = [
        revision_conversation(turns, critique, p)
        for turns, critique, p in zip(critique_turns, critiques, principles, strict=True)
    ]
    bar.set_postfix_str("revise")
    revisions = meter.run(
        "revision", critic, lambda: critic.generate(revision_turns, settings.revision, seeds)
    )
    revisions = [clean_revision(text) for text in revisions]

    records: list[dict[str, Any]] = []
    to_judge: list[int] = []
    for index, (item, answer, revision) in enumerate(zip(chunk, answers, revisions, strict=True)):
        base = {
            "id": item.id,
            "round": settings.round,
            "seed": seeds[index],
            "principle_id": principles[index].id,
            "constitution": constitution.name,
            "models": models,
            "prompt": item.messages,
            "original": answer,
            "critique": critiques[index],
            "revision": revision,
        }
        if not answer.strip():
            records.append(drop(dict(base), DropReason.EMPTY_ANSWER))
        elif not revision.strip():
            records.append(drop(dict(base), DropReason.EMPTY_REVISION))
        elif revision.strip() == answer.strip():
            records.append(drop(dict(base), DropReason.REVISION_IDENTICAL))
        elif revision.strip() == critiques[index].strip():
            records.append(drop(dict(base), DropReason.REVISION_REPEATS_CRITIQUE))
        else:
            records.append(base)
            to_judge.append(index)

    if to_judge:
        bar.set_postfix_str("judge")
        meter.run(
            "judge",
            judge_model or judge,
            lambda: judge_revisions(
                records, to_judge, principles, constitution, judge, settings.margin, settings.pairs
            ),
        )
    return records
