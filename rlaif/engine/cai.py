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
    revision_passes: int = 1
    """Critique -> revision passes per prompt (run config ``revision_passes``)."""


@dataclass
class EngineResult:
    pairs: int = 0
    drops: Counter = field(default_factory=Counter)
    skipped: int = 0
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)


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
        add_counts(self.result.usage.setdefault(stage, {}), _usage(model), before)
        return out


def add_counts(totals: dict[str, Any], after: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    """``totals += after - before``, key by key; nested mappings (a backend's per-server counters) recursively.

    Why recursive: a backend with several servers reports ``{"requests": n, ..., "endpoints": {url: {...}}}``
    and each stage (and the manifest, summed over chunks) keeps that shape. Non-numbers are ignored.
    """
    before = before or {}
    for key, value in after.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            total = totals.get(key, 0) + value - before.get(key, 0)
            totals[key] = round(total, 3) if isinstance(total, float) else total
        elif isinstance(value, dict):
            earlier = before.get(key)
            add_counts(totals.setdefault(key, {}), value, earlier if isinstance(earlier, dict) else {})


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
    first_turns = [
        critique_conversation(constitution, p, item.messages, answer)
        for item, p, answer in zip(chunk, principles, answers, strict=True)
    ]
    passes = _revision_passes(
        chunk, constitution, critic, settings, meter, bar, answers, principles, first_turns
    )

    records: list[dict[str, Any]] = []
    to_judge: list[int] = []
    final_principles: list[Principle] = []
    for index, (item, answer) in enumerate(zip(chunk, answers, strict=True)):
        done = passes[index]
        kept = [p for p in done if p.reason is None]
        final = kept[-1] if kept else done[0]  # no pass kept: the record shows pass 1, as a one-pass drop
        final_principles.append(final.principle)
        base = {
            "id": item.id,
            "round": settings.round,
            "seed": seeds[index],
            "principle_id": final.principle.id,
            "constitution": constitution.name,
            "models": models,
            "prompt": item.messages,
            "original": answer,
            "critique": final.critique,
            "revision": final.revision,
        }
        if settings.revision_passes > 1:
            base["passes"] = [p.provenance() for p in done]
        if not answer.strip():
            records.append(drop(dict(base), DropReason.EMPTY_ANSWER))
        elif not kept:
            records.append(drop(dict(base), done[0].reason))
        else:
            records.append(base)
            to_judge.append(index)

    if to_judge:
        bar.set_postfix_str("judge")
        meter.run(
            "judge",
            judge_model or judge,
            lambda: judge_revisions(
                records, to_judge, final_principles, constitution, judge, settings.margin, settings.pairs
            ),
        )
    return records


@dataclass
class RevisionPass:
    """One critique -> revision pass over one prompt's current response."""

    principle: Principle
    seed: int
    critique: str
    revision: str
    reason: DropReason | None
    """Why this pass's revision was not kept (the response stays the previous one); None = kept."""

    def provenance(self) -> dict[str, Any]:
        out = {
            "principle_id": self.principle.id,
            "seed": self.seed,
            "critique": self.critique,
            "revision": self.revision,
        }
        if self.reason is not None:
            out["dropped_reason"] = self.reason.value
        return out


def revision_problem(previous: str, critique: str, revision: str) -> DropReason | None:
    """Why a revision is not a usable improvement of ``previous`` (None: it is)."""
    if not revision.strip():
        return DropReason.EMPTY_REVISION
    if revision.strip() == previous.strip():
        return DropReason.REVISION_IDENTICAL
    if revision.strip() == critique.strip():
        return DropReason.REVISION_REPEATS_CRITIQUE
    return None


def _revision_passes(
    chunk: Sequence[PromptItem],
    constitution: Constitution,
    critic: ChatModel,
    settings: EngineSettings,
    meter: _StageMeter,
    bar: Any,
    answers: Sequence[str],
    principles: Sequence[Principle],
    first_turns: Sequence[Conversation],
) -> list[list[RevisionPass]]:
    """``settings.revision_passes`` critique -> revision passes, each one batched call per stage.

    Pass 1 critiques the answer under the prompt's own principle (and seed). Pass k > 1 continues the same
    conversation, the way the paper chains its revisions: after the last kept revision comes a critique
    request of a newly sampled principle (seeded by ``(seed, round, id, pass)``), then its revision request.
    Every earlier turn -- few-shot examples, prompt, answer, kept critiques and revisions -- is a prefix of the
    new prompt, so a backend's prefix cache reuses it. A pass whose revision is empty, unchanged or a copy
    of its critique is recorded with its reason and the response stays as it was. Items whose answer is empty
    only get pass 1 (they are dropped either way).
    """
    current = list(answers)
    contexts: list[Conversation] = [turns[:-1] for turns in first_turns]  # ... up to the response
    out: list[list[RevisionPass]] = [[] for _ in chunk]
    for number in range(1, settings.revision_passes + 1):
        if number == 1:
            active = list(range(len(chunk)))
            pass_seeds = [prompt_seed(settings.seed, settings.round, item.id) for item in chunk]
            pass_principles = list(principles)
            critique_turns = list(first_turns)
        else:
            active = [i for i, answer in enumerate(answers) if answer.strip()]
            if not active:
                break
            pass_seeds = [prompt_seed(settings.seed, settings.round, chunk[i].id, number) for i in active]
            pass_principles = [constitution.sample(random.Random(seed)) for seed in pass_seeds]
            critique_turns = [
                [*contexts[i], {"role": "user", "content": p.critique_request}]
                for i, p in zip(active, pass_principles, strict=True)
            ]
        label = "" if settings.revision_passes == 1 else f" {number}/{settings.revision_passes}"
        bar.set_postfix_str("critique" + label)
        critiques = meter.run(
            "critique",
            critic,
            lambda turns=critique_turns, s=pass_seeds: critic.generate(turns, settings.critique, s),
        )
        revision_turns = [
            revision_conversation(turns, critique, p)
            for turns, critique, p in zip(critique_turns, critiques, pass_principles, strict=True)
        ]
        bar.set_postfix_str("revise" + label)
        revisions = meter.run(
            "revision",
            critic,
            lambda turns=revision_turns, s=pass_seeds: critic.generate(turns, settings.revision, s),
        )
        for slot, index in enumerate(active):
            revision = clean_revision(revisions[slot])
            reason = revision_problem(current[index], critiques[slot], revision)
            out[index].append(
                RevisionPass(pass_principles[slot], pass_seeds[slot], critiques[slot], revision, reason)
            )
            if reason is None:
                current[index] = revision
                contexts[index] = [*revision_turns[slot], {"role": "assistant", "content": revision}]
    return out
