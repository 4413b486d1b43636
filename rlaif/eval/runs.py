"""Evaluation wired to run configs: the judge, constitution, sampling and models a run uses.

:func:`evaluate_config` is what ``rlaif eval`` calls; :func:`evaluate_round` is the pipeline's hook at the end of
a trained round, writing ``round-N/eval.json`` (summary) and ``round-N/eval_records.jsonl`` (one record per
comparison) and recording both in the manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlaif.config import RunConfig
from rlaif.constitution import load_constitution
from rlaif.eval.core import EvalResult, EvalSettings, constitution_rewards, evaluate
from rlaif.files import atomic_write_json, write_jsonl
from rlaif.prompts import PromptItem, load_prompt_items


def eval_settings(config: RunConfig) -> EvalSettings:
    section = config.settings.eval
    return EvalSettings(
        generation=config.sampling("generation"),
        margin=config.settings.judge.margin,
        seed=config.settings.seed,
        principles=section.principles,
    )


def eval_prompts(config: RunConfig, prompts_file: str | Path | None = None) -> list[PromptItem]:
    """``prompts_file`` if given, else the run's held-out prompts (or all its prompts when nothing is held out)."""
    from rlaif.eval.holdout import prompt_split

    cap = config.settings.eval.max_prompts
    if prompts_file is not None:
        return load_prompt_items(
            prompts_file, Path.cwd(), config.settings.prompt_field, config.settings.id_field, cap
        )
    split = prompt_split(config, train=True)
    return split.held_out or split.train[:cap]


def evaluate_config(
    config: RunConfig,
    model_spec: str,
    baseline_spec: str | None = None,
    items: list[PromptItem] | None = None,
    progress: bool = False,
) -> EvalResult:
    """Evaluate ``model_spec`` against ``baseline_spec`` (default: the config's policy) with the run's judge."""
    registry = config.registry
    constitution = load_constitution(config.settings.constitution, config.base_dir)
    items = items if items is not None else eval_prompts(config)
    pool = config.model_pool()
    try:
        policy_ref = config.model("policy")
        baseline = pool.model(
            "policy" if baseline_spec in (None, policy_ref.spec) else baseline_spec  # type: ignore[arg-type]
        )
        model = pool.model(model_spec) if model_spec != policy_ref.spec else pool.model("policy")
        judge = config.build_judge(pool)
        return evaluate(
            model,
            baseline,
            judge,
            items,
            constitution,
            eval_settings(config),
            rewards=constitution_rewards(constitution, registry),
            progress=progress,
        )
    finally:
        pool.close()


def save_eval(result: EvalResult, folder: Path) -> tuple[Path, Path]:
    summary_path, records_path = folder / "eval.json", folder / "eval_records.jsonl"
    write_jsonl(records_path, result.records)
    atomic_write_json(summary_path, result.summary)
    return summary_path, records_path


def evaluate_round(
    config: RunConfig,
    run_dir: Any,
    round_index: int,
    checkpoint: str,
    items: list[PromptItem],
    progress: bool,
    echo: Callable[[str], None],
    judge_note: str | None = None,
) -> None:
    """The run's end-of-round evaluation, journaled like generation.

    ``judge_note`` (how far the judge is trusted, :func:`rlaif.judges.trust.trust_text`) is printed beside the
    win rate; the constitution's verifiable rewards, before and after with their paired interval, below it.

    Prompts are evaluated in chunks of ``chunk_size``; each chunk's records are fsync'd to
    ``round-N/eval_journal.jsonl`` before the next starts, so a crash or kill mid-eval loses at most the chunk in
    flight and a re-run finishes the rest. Skipped entirely when this round's ``eval.json`` already exists.
    """
    from rlaif.engine.journal import Journal
    from rlaif.eval.core import evaluate_records, summarize_eval

    entry = run_dir.round_entry(round_index)
    round_dir = run_dir.round_dir(round_index)
    if entry.get("eval") and (run_dir.path / entry["eval"]).exists():
        return
    journal = Journal(round_dir / "eval_journal.jsonl")
    pending = [item for item in items if item.id not in journal.done_ids]
    done = len(items) - len(pending)
    resumed = f" (resuming: {done} already evaluated)" if done else ""
    echo(
        f"Evaluating round {round_index} on {len(items)} held-out prompts against the starting policy{resumed} ..."
    )
    started = time.perf_counter()
    settings = eval_settings(config)
    constitution = load_constitution(config.settings.constitution, config.base_dir)
    rewards = constitution_rewards(constitution, config.registry)
    if pending:
        pool = config.model_pool()
        try:
            model = pool.model(str((run_dir.path / checkpoint).resolve()))
            baseline = pool.model("policy")
            judge = config.build_judge(pool)
            for start in range(0, len(pending), config.settings.chunk_size):
                chunk = pending[start : start + config.settings.chunk_size]
                journal.append(
                    evaluate_records(model, baseline, judge, chunk, constitution, settings, rewards, progress)
                )
        finally:
            pool.close()
    wanted = {item.id for item in items}
    records = [record for record in journal.records if record["id"] in wanted]
    summary = summarize_eval(records, constitution, settings, [name for name, _ in rewards])
    summary.update(
        model=str((run_dir.path / checkpoint).resolve()),
        baseline=config.model("policy").spec,
        judge=config.settings.judge.name,
        eval_s=round(time.perf_counter() - started, 2),
    )
    summary_path, records_path = save_eval(EvalResult(summary, records), round_dir)
    entry.update(
        eval=run_dir.relative(summary_path),
        eval_records=run_dir.relative(records_path),
        eval_summary={key: summary[key] for key in ("win_rate", "wins", "losses", "ties", "n")}
        | {"kl": summary["kl"]["estimate"], "rewards": reward_brief(summary)},
    )
    run_dir.save_manifest()
    rate = summary["win_rate"]
    echo(
        f"Round {round_index} eval: win rate {rate:.2f} vs the starting policy "
        f"({summary['wins']} wins, {summary['ties']} ties, {summary['losses']} losses)"
        + (f"; {judge_note}" if judge_note else "")
        if rate is not None
        else f"Round {round_index} eval: nothing to compare"
    )
    for line in reward_lines(entry["eval_summary"]["rewards"]):
        echo(f"  {line}")


def reward_brief(summary: dict[str, Any]) -> dict[str, Any]:
    """Per verifiable reward, what the manifest keeps: mean before/after, the paired change and pass rates."""
    brief = {}
    for name, stats in (summary.get("rewards") or {}).items():
        change = stats.get("change") or {}
        brief[name] = {
            "before": stats["baseline"].get("mean"),
            "after": stats["model"].get("mean"),
            "change": change.get("mean"),
            "ci95": change.get("ci95"),
            "n": change.get("n"),
            "pass_before": stats["baseline"].get("pass_rate"),
            "pass_after": stats["model"].get("pass_rate"),
        }
    return brief


def reward_lines(brief: dict[str, Any]) -> list[str]:
    """``held-out length: 0.61 -> 0.78, change +0.17 [+0.05, +0.29] on 8 prompts; pass rate 0.00 -> 0.50``."""
    from rlaif.eval.stats import interval_text

    def rate(value: Any) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = []
    for name, figures in (brief or {}).items():
        if not isinstance(figures, dict):
            continue
        change = interval_text({"mean": figures.get("change"), "ci95": figures.get("ci95")}, 2, signed=True)
        lines.append(
            f"held-out {name}: {rate(figures.get('before'))} -> {rate(figures.get('after'))}, change {change} "
            f"on {figures.get('n')} prompts; pass rate {rate(figures.get('pass_before'))} -> "
            f"{rate(figures.get('pass_after'))}"
        )
    return lines
