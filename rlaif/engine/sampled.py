"""One chunk of the sampled strategies (best-of-n, pairwise-tournament): sample n answers, score, pick a pair.

Same contract as the revision chunk in :mod:`rlaif.engine.cai`: one record per prompt, every chance choice
seeded from ``(seed, round, prompt id)`` (candidate ``k`` uses the seed of ``"<id>#k"``; candidate 0 uses the
prompt's own seed, so it is the very answer the revision strategy would start from), records returned for the
journal.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from rlaif.constitution import Constitution
from rlaif.engine.seeds import prompt_seed
from rlaif.engine.strategies import decide_sampled, score_candidates, scoring_principles, tournament
from rlaif.prompts import PromptItem
from rlaif.protocols import ChatModel, Judge


def run_sampled_chunk(
    chunk: Sequence[PromptItem],
    constitution: Constitution,
    policy: ChatModel,
    critic: ChatModel,
    judge: Judge,
    settings: Any,
    meter: Any,
    models: dict[str, str],
    bar: Any,
    judge_model: ChatModel | None,
) -> list[dict[str, Any]]:

    pairs = settings.pairs
    seeds = [prompt_seed(settings.seed, settings.round, item.id) for item in chunk]
    principles = [constitution.sample(random.Random(seed)) for seed in seeds]
    candidate_seeds = [
        [seed] + [prompt_seed(settings.seed, settings.round, f"{item.id}#{k}") for k in range(1, pairs.n)]
        for item, seed in zip(chunk, seeds, strict=True)
    ]
    conversations = [item.messages for item in chunk for _ in range(pairs.n)]
    flat_seeds = [s for row in candidate_seeds for s in row]
    bar.set_postfix_str(f"answer x{pairs.n}")
    flat = meter.run("answer", policy, lambda: policy.generate(conversations, settings.answer, flat_seeds))
    candidates = [flat[i * pairs.n : (i + 1) * pairs.n] for i in range(len(chunk))]
    asked = [scoring_principles(pairs, constitution, p) for p in principles]
    items = [(item.messages, cands, a) for item, cands, a in zip(chunk, candidates, asked, strict=True)]

    bar.set_postfix_str("judge")
    if pairs.strategy == "best-of-n":
        scores = meter.run("judge", judge_model or judge, lambda: score_candidates(judge, items))
        matches: list[Any] = [None] * len(chunk)
    else:
        scores, matches = meter.run("judge", judge_model or judge, lambda: tournament(judge, items))

    records = []
    for index, item in enumerate(chunk):
        record: dict[str, Any] = {
            "id": item.id,
            "round": settings.round,
            "seed": seeds[index],
            "principle_id": principles[index].id,
            "constitution": constitution.name,
            "models": models,
            "prompt": item.messages,
            "strategy": pairs.strategy,
            "candidates": candidates[index],
            "candidate_seeds": candidate_seeds[index],
        }
        decide_sampled(
            record,
            candidates[index],
            scores[index],
            asked[index],
            pairs,
            judge,
            settings.margin,
            matches[index],
        )
        records.append(record)
    return records
