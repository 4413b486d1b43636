"""Evaluate a policy against a baseline: judge win rates (both orders), reward pass rates, lengths, KL.

Both models answer the same prompts with the same per-prompt seeds. The judge is asked every comparison twice,
once with the model's response shown first and once second, so a judge's position bias cannot masquerade as a
win; the two probabilities are averaged into ``p_model``. An outcome is a win when ``p_model > 0.5 + margin``,
a loss below ``0.5 - margin``, otherwise a tie, and ``win_rate = (wins + ties / 2) / n``.

The KL estimate is the mean over prompts of ``log p_model(y | x) - log p_baseline(y | x)`` for the model's own
sample ``y`` (a Monte Carlo estimate of KL(model || baseline) at the sampling settings used), available when
both backends implement the optional ``response_logprobs``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rlaif.constitution import Constitution, Principle
from rlaif.engine.seeds import prompt_seed
from rlaif.prompts import PromptItem
from rlaif.protocols import ChatModel, Comparison, GenerationParams, Judge, Reward

EVAL_ROUND_SALT = 0
"""Eval seeds use round 0 (no generation round is 0), so every round's eval asks the same questions."""


@dataclass
class EvalSettings:
    generation: GenerationParams = field(default_factory=lambda: GenerationParams(max_new_tokens=96))
    margin: float = 0.02
    seed: int = 0
    principles: str = "sampled"
    """``sampled``: one principle per prompt, drawn by weight like the CAI engine; ``all``: every principle."""
    batch_size: int = 16


@dataclass
class EvalResult:
    summary: dict[str, Any]
    records: list[dict[str, Any]]


def outcome(p_model: float, margin: float) -> str:
    if p_model > 0.5 + margin:
        return "win"
    if p_model < 0.5 - margin:
        return "loss"
    return "tie"


def tally(outcomes: Sequence[str]) -> dict[str, Any]:
    """Wins, losses, ties and ``win_rate = (wins + ties/2) / n`` (None when there is nothing to count)."""
    wins, losses, ties = (sum(1 for o in outcomes if o == kind) for kind in ("win", "loss", "tie"))
    n = len(outcomes)
    return {
        "win_rate": (wins + ties / 2) / n if n else None,
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "n": n,
    }


def _lengths(texts: Sequence[str]) -> dict[str, float | None]:
    if not texts:
        return {"mean_chars": None, "mean_words": None}
    return {
        "mean_chars": sum(len(t) for t in texts) / len(texts),
        "mean_words": sum(len(t.split()) for t in texts) / len(texts),
    }


def constitution_rewards(constitution: Constitution, registry: Any) -> list[tuple[str, Reward]]:
    """Every distinct reward attached to any principle, built once (``name`` or ``name {options}``)."""
    import json

    from rlaif.rewards import build_reward

    built: dict[str, Reward] = {}
    for principle in constitution.principles:
        for name, options in principle.reward_specs():
            label = name if not options else f"{name} {json.dumps(options, sort_keys=True)}"
            if label not in built:
                built[label] = build_reward(name, options, registry, constitution.source)
    return list(built.items())


def _reward_stats(reward: Reward, items: Sequence[PromptItem], texts: Sequence[str]) -> tuple[dict, list]:
    """Pass rate (status ``passed``, or score >= 1 for rewards without details), mean score, per-row scores."""
    prompts = [item.messages for item in items]
    completions = [[{"role": "assistant", "content": text}] for text in texts]
    keys = sorted({key for item in items for key in item.columns})
    columns = {key: [item.columns.get(key) for item in items] for key in keys}
    details = getattr(reward, "details", None)
    if callable(details):
        rows = details(prompts, completions, **columns)
        scores = [row.get("score") for row in rows]
        passes = [row.get("status") == "passed" if row.get("score") is not None else None for row in rows]
    else:
        scores = list(reward(prompts, completions, **columns))
        passes = [None if score is None else score >= 1.0 for score in scores]
    judged = [s for s in scores if s is not None]
    counted = [p for p in passes if p is not None]
    stats = {
        "pass_rate": sum(counted) / len(counted) if counted else None,
        "mean": sum(judged) / len(judged) if judged else None,
        "n": len(judged),
    }
    return stats, scores


def _principles_for(item: PromptItem, constitution: Constitution, settings: EvalSettings) -> list[Principle]:
    if settings.principles == "all":
        return list(constitution.principles)
    return [constitution.sample(random.Random(prompt_seed(settings.seed, EVAL_ROUND_SALT, item.id)))]


def _logprobs(model: ChatModel, items: Sequence[PromptItem], texts: Sequence[str]) -> list[float | None]:
    method = getattr(model, "response_logprobs", None)
    if not callable(method):
        return [None] * len(items)
    return list(method([item.messages for item in items], list(texts)))


def evaluate(
    model: ChatModel,
    baseline: ChatModel,
    judge: Judge,
    items: Sequence[PromptItem],
    constitution: Constitution,
    settings: EvalSettings | None = None,
    rewards: Sequence[tuple[str, Reward]] = (),
    progress: bool = False,
) -> EvalResult:
    """Generate with both models on ``items``, judge them against each other, and summarise."""
    from tqdm.auto import tqdm

    settings = settings or EvalSettings()
    items = list(items)
    started = time.perf_counter()
    seeds = [prompt_seed(settings.seed, EVAL_ROUND_SALT, item.id) for item in items]
    conversations = [item.messages for item in items]
    bar = tqdm(total=5, desc="eval", disable=not progress)
    bar.set_postfix_str("model answers")
    model_texts = model.generate(conversations, settings.generation, seeds) if items else []
    bar.update()
    bar.set_postfix_str("baseline answers")
    baseline_texts = baseline.generate(conversations, settings.generation, seeds) if items else []
    bar.update()

    bar.set_postfix_str("judge")
    pairs: list[tuple[int, Principle]] = [
        (index, principle)
        for index, item in enumerate(items)
        for principle in _principles_for(item, constitution, settings)
    ]
    model_first = [Comparison(items[i].messages, model_texts[i], baseline_texts[i], p) for i, p in pairs]
    model_second = [Comparison(items[i].messages, baseline_texts[i], model_texts[i], p) for i, p in pairs]
    verdicts = judge.compare(model_first + model_second) if pairs else []
    bar.update()

    bar.set_postfix_str("rewards")
    reward_summary: dict[str, Any] = {}
    reward_scores: dict[str, dict[str, list]] = {}
    for name, reward in rewards:
        model_stats, model_scores = _reward_stats(reward, items, model_texts)
        baseline_stats, baseline_scores = _reward_stats(reward, items, baseline_texts)
        reward_summary[name] = {"model": model_stats, "baseline": baseline_stats}
        reward_scores[name] = {"model": model_scores, "baseline": baseline_scores}
    bar.update()

    bar.set_postfix_str("log-probs")
    model_lp = _logprobs(model, items, model_texts)
    baseline_lp = _logprobs(baseline, items, model_texts)
    bar.update()
    bar.close()

    n = len(pairs)
    records: list[dict[str, Any]] = []
    for k, (index, principle) in enumerate(pairs):
        first, second = verdicts[k], verdicts[n + k]
        p_first, p_second = first.p_a, 1.0 - second.p_a
        p_model = (p_first + p_second) / 2
        item = items[index]
        records.append(
            {
                "kind": "eval",
                "id": item.id,
                "principle_id": principle.id,
                "prompt": item.messages,
                "model_response": model_texts[index],
                "baseline_response": baseline_texts[index],
                "p_model": p_model,
                "p_model_first": p_first,
                "p_model_second": p_second,
                "outcome": outcome(p_model, settings.margin),
                "judge": {"name": judge.name, "model_first": first.details, "model_second": second.details},
                "logprob_model": model_lp[index],
                "logprob_baseline": baseline_lp[index],
                "rewards": {
                    name: {"model": scores["model"][index], "baseline": scores["baseline"][index]}
                    for name, scores in reward_scores.items()
                },
            }
        )

    per_principle: dict[str, Any] = {}
    for principle in constitution.principles:
        subset = [r["outcome"] for r in records if r["principle_id"] == principle.id]
        if subset:
            per_principle[principle.id] = tally(subset)
    kl_terms = [m - b for m, b in zip(model_lp, baseline_lp, strict=True) if m is not None and b is not None]
    kl: dict[str, Any] = {
        "estimate": sum(kl_terms) / len(kl_terms) if kl_terms else None,
        "n": len(kl_terms),
        "method": "mean over prompts of sum_t log p_model - log p_baseline on the model's own samples",
    }
    if not kl_terms and items:
        kl["reason"] = "a backend does not provide response_logprobs"
    summary = {
        "model": model.name,
        "baseline": baseline.name,
        "judge": judge.name,
        "prompts": len(items),
        "principles_mode": settings.principles,
        "margin": settings.margin,
        **tally([r["outcome"] for r in records]),
        "orders": {
            "model_first": tally([outcome(r["p_model_first"], settings.margin) for r in records]),
            "model_second": tally([outcome(r["p_model_second"], settings.margin) for r in records]),
        },
        "mean_p_model": sum(r["p_model"] for r in records) / n if n else None,
        "per_principle": per_principle,
        "rewards": reward_summary,
        "length": {"model": _lengths(model_texts), "baseline": _lengths(baseline_texts)},
        "kl": kl,
        "eval_s": round(time.perf_counter() - started, 2),
    }
    return EvalResult(summary, records)
