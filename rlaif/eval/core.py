"""Evaluate a policy against a baseline: judge win rates (both orders), reward pass rates, lengths, KL.

A constitution's verifiable rewards are scored on both models' answers to the same prompts, so their change
(after minus before, per prompt) comes with a paired 95% interval (:func:`reward_change`): the figure a judge
cannot flatter, reported beside the win rate.

Both models answer the same prompts with the same per-prompt seeds. The judge is asked every comparison twice,
once with the model's response shown first and once second, so a judge's position bias cannot masquerade as a
win; the two probabilities are averaged into ``p_model``. An outcome is a win when ``p_model > 0.5 + margin``,
a loss below ``0.5 - margin``, otherwise a tie, and ``win_rate = (wins + ties / 2) / n``.

The KL estimate is KL(model || baseline) on the model's own samples ``y`` (at the sampling settings used),
with Schulman's non-negative "k3" estimator: for each response token, with ``r = p_baseline / p_model`` of the
sampled token, ``(r - 1) - log r`` (never negative; its expectation is that position's KL), summed over the
response, then averaged over prompts and reported with a 95% Student t interval (:mod:`rlaif.eval.stats`).
The plain log-ratio mean ("k1") can come out negative on a handful of samples, which a divergence never is; it
is kept as ``k1`` for reference.
Available when both backends implement the optional ``response_logprobs`` (per-token where they can; a backend
that only gives sequence totals gets the same estimator on the whole sequence).
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


def _reward_rows(reward: Reward, items: Sequence[PromptItem], texts: Sequence[str]) -> list[tuple[Any, Any]]:
    """(score, passed) per text: passed is status ``passed``, or score >= 1 for rewards without details."""
    prompts = [item.messages for item in items]
    completions = [[{"role": "assistant", "content": text}] for text in texts]
    keys = sorted({key for item in items for key in item.columns})
    columns = {key: [item.columns.get(key) for item in items] for key in keys}
    details = getattr(reward, "details", None)
    if callable(details):
        rows = details(prompts, completions, **columns)
        return [
            (row.get("score"), row.get("status") == "passed" if row.get("score") is not None else None)
            for row in rows
        ]
    scores = list(reward(prompts, completions, **columns))
    return [(score, None if score is None else score >= 1.0) for score in scores]


def _reward_stats(rows: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    """Pass rate (95% Wilson interval) and mean score (95% t interval) of one model's answers."""
    from rlaif.eval.stats import mean_interval
    from rlaif.judges.evaluation import wilson_interval

    judged = [score for score, _ in rows if score is not None]
    counted = [passed for _, passed in rows if passed is not None]
    return {
        "pass_rate": sum(counted) / len(counted) if counted else None,
        "pass_ci95": list(wilson_interval(sum(counted), len(counted))) if counted else None,
        "mean": sum(judged) / len(judged) if judged else None,
        "mean_ci95": mean_interval(judged)["ci95"],
        "n": len(judged),
    }


def reward_change(records: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    """A reward's change on the same held-out prompts, after (model) minus before (baseline), paired per prompt.

    ``mean`` and ``ci95`` (Student t over prompts) of the score difference, ``pass_rate`` the change in pass
    rate, ``above_zero`` / ``below_zero`` whether the interval excludes zero: what the rule says happened,
    whatever the judge thought. ``records`` are one per prompt.
    """
    from rlaif.eval.stats import paired_change

    change = paired_change(
        [r["rewards"][name]["baseline"] for r in records], [r["rewards"][name]["model"] for r in records]
    )
    both = [
        r["reward_passed"][name]
        for r in records
        if r["reward_passed"][name]["model"] is not None and r["reward_passed"][name]["baseline"] is not None
    ]
    change["pass_rate"] = (
        sum(float(p["model"]) - float(p["baseline"]) for p in both) / len(both) if both else None
    )
    return change


def _principles_for(item: PromptItem, constitution: Constitution, settings: EvalSettings) -> list[Principle]:
    if settings.principles == "all":
        return list(constitution.principles)
    return [constitution.sample(random.Random(prompt_seed(settings.seed, EVAL_ROUND_SALT, item.id)))]


def _logprobs(model: ChatModel, items: Sequence[PromptItem], texts: Sequence[str]) -> list[Any]:
    """Per-token log-probs of each text (a list), or the sequence total (a float) where only that exists."""
    method = getattr(model, "response_logprobs", None)
    if not callable(method):
        return [None] * len(items)
    conversations = [item.messages for item in items]
    try:
        return list(method(conversations, list(texts), reduction="tokens"))
    except (TypeError, ValueError):
        return list(method(conversations, list(texts)))


def _total(value: Any) -> float | None:
    return float(sum(value)) if isinstance(value, list) else value


def k3(log_ratios: Sequence[float]) -> float:
    """Schulman's estimator summed over tokens: ``sum (r - 1) - log r`` with ``log r = logp_base - logp_model``."""
    import math

    return sum(math.expm1(lr) - lr for lr in log_ratios)


def kl_terms(model_lp: Any, baseline_lp: Any) -> dict[str, Any] | None:
    """One prompt's KL terms from its sample's log-probs under both models (None when either is missing)."""
    if model_lp is None or baseline_lp is None:
        return None
    per_token = (
        isinstance(model_lp, list) and isinstance(baseline_lp, list) and len(model_lp) == len(baseline_lp)
    )
    if per_token:
        value = k3([b - m for m, b in zip(model_lp, baseline_lp, strict=True)])
    else:
        value = k3([_total(baseline_lp) - _total(model_lp)])
    return {"k3": value, "k1": _total(model_lp) - _total(baseline_lp), "per_token": per_token}


def kl_estimate(terms: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """KL(model || baseline) over prompts from their :func:`kl_terms` (see module docstring)."""
    from rlaif.eval.stats import t_interval

    present = [term for term in terms if term]
    per_prompt = [term["k3"] for term in present]
    k1 = [term["k1"] for term in present]
    per_token = all(term["per_token"] for term in present)
    n = len(per_prompt)
    interval = t_interval(per_prompt) if n else None
    estimate = interval.mean if interval else None
    return {
        "estimate": estimate,
        "ci95": [max(0.0, interval.low), interval.high] if interval and interval.low is not None else None,
        "n": n,
        "k1": sum(k1) / n if n else None,
        "method": "k3 (Schulman): mean over prompts of sum over response tokens of (r - 1) - log r, "
        "r = p_baseline / p_model of the model's sampled token"
        + ("" if per_token else " (on whole sequences: a backend gives no per-token log-probs)"),
    }


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
    settings = settings or EvalSettings()
    started = time.perf_counter()
    records = evaluate_records(model, baseline, judge, items, constitution, settings, rewards, progress)
    summary = summarize_eval(records, constitution, settings, [name for name, _ in rewards])
    summary.update(model=model.name, baseline=baseline.name, judge=judge.name)
    summary["eval_s"] = round(time.perf_counter() - started, 2)
    return EvalResult(summary, records)


def evaluate_records(
    model: ChatModel,
    baseline: ChatModel,
    judge: Judge,
    items: Sequence[PromptItem],
    constitution: Constitution,
    settings: EvalSettings,
    rewards: Sequence[tuple[str, Reward]] = (),
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One record per (prompt, principle): both answers, both judge orders, rewards and KL terms.

    Records of one prompt are self-contained, so a run can journal them chunk by chunk and
    :func:`summarize_eval` gives the same summary from any mix of resumed chunks.
    """
    from tqdm.auto import tqdm

    items = list(items)
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
    reward_rows = {
        name: {
            "model": _reward_rows(reward, items, model_texts),
            "baseline": _reward_rows(reward, items, baseline_texts),
        }
        for name, reward in rewards
    }
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
        kl = kl_terms(model_lp[index], baseline_lp[index])
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
                "logprob_model": _total(model_lp[index]),
                "logprob_baseline": _total(baseline_lp[index]),
                "kl": kl,
                "rewards": {
                    name: {side: rows[side][index][0] for side in ("model", "baseline")}
                    for name, rows in reward_rows.items()
                },
                "reward_passed": {
                    name: {side: rows[side][index][1] for side in ("model", "baseline")}
                    for name, rows in reward_rows.items()
                },
            }
        )
    return records


def summarize_eval(
    records: Sequence[dict[str, Any]],
    constitution: Constitution,
    settings: EvalSettings,
    reward_names: Sequence[str] = (),
) -> dict[str, Any]:
    """Win rates (overall, per order, per principle), rewards, lengths and KL from eval records."""
    n = len(records)
    per_item = list({record["id"]: record for record in records}.values())  # one per prompt
    per_principle: dict[str, Any] = {}
    for principle in constitution.principles:
        subset = [r["outcome"] for r in records if r["principle_id"] == principle.id]
        if subset:
            per_principle[principle.id] = tally(subset)
    reward_summary = {
        name: {
            side: _reward_stats(
                [(r["rewards"][name][side], r["reward_passed"][name][side]) for r in per_item]
            )
            for side in ("model", "baseline")
        }
        | {"change": reward_change(per_item, name)}
        for name in reward_names
    }
    kl = kl_estimate([r.get("kl") for r in per_item])
    if not kl["n"] and per_item:
        kl["reason"] = "a backend does not provide response_logprobs"
    return {
        "prompts": len(per_item),
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
        "length": {
            "model": _lengths([r["model_response"] for r in per_item]),
            "baseline": _lengths([r["baseline_response"] for r in per_item]),
        },
        "kl": kl,
    }
