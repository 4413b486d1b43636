"""``rlaif eval``: judge a trained model against a baseline on held-out prompts."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_summary(summary: dict, judge_note: str | None = None) -> str:
    """The human-readable eval summary; ``judge_note`` (how far the judge is trusted) goes under the win rate."""
    from rlaif.eval.stats import interval_text

    lines = [
        f"model:     {summary['model']}",
        f"baseline:  {summary['baseline']}",
        f"judge:     {summary['judge']} ({summary['prompts']} prompts, {summary['n']} comparisons, "
        f"principles: {summary['principles_mode']}, tie margin {summary['margin']})",
        f"win rate:  {_fmt(summary['win_rate'])}  ({summary['wins']} wins, {summary['ties']} ties, "
        f"{summary['losses']} losses; ties count half)",
    ]
    if judge_note:
        lines.append(f"           {judge_note}")
    for order, label in (("model_first", "model shown first"), ("model_second", "model shown second")):
        lines.append(f"  {label:<20} {_fmt(summary['orders'][order]['win_rate'])}")
    if summary["per_principle"]:
        lines.append("per principle:")
        for pid, stats in summary["per_principle"].items():
            lines.append(f"  {pid:<22} {_fmt(stats['win_rate'])}  (n={stats['n']})")
    for name, stats in summary["rewards"].items():
        change = stats.get("change")
        lines.append(
            f"reward {name}: pass rate {_fmt(stats['model']['pass_rate'])} vs {_fmt(stats['baseline']['pass_rate'])}, "
            f"mean {_fmt(stats['model']['mean'])} vs {_fmt(stats['baseline']['mean'])} (model vs baseline)"
            + (
                f"; change {interval_text(change, 3, signed=True)} (paired over {change['n']} prompts, 95% t)"
                if change
                else ""
            )
        )
    length = summary["length"]
    lines.append(
        f"mean length (words): model {_fmt(length['model']['mean_words'], 1)}, "
        f"baseline {_fmt(length['baseline']['mean_words'], 1)}"
    )
    kl = summary["kl"]
    lines.append(
        f"KL(model || baseline) estimate (k3, per token): {_fmt(kl['estimate'])} nats"
        + (f", 95% interval {_fmt(kl['ci95'][0])} to {_fmt(kl['ci95'][1])}" if kl.get("ci95") else "")
        + (f" ({kl['reason']})" if kl.get("reason") else "")
    )
    return "\n".join(lines)


@click.command("eval")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--model", "model_spec", required=True, help="Model to evaluate: a checkpoint directory or spec."
)
@click.option(
    "--baseline",
    default=None,
    help="Model to compare against (default: the config's policy, e.g. 'embedded').",
)
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(dir_okay=True),
    help="Prompts to evaluate on (JSONL or dataset dir; default: the config's held-out prompts).",
)
@click.option("--max-prompts", "-n", type=click.IntRange(min=1), help="Evaluate on at most N prompts.")
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, writable=True),
    help="Also write eval.json and eval_records.jsonl (one record per comparison) here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def eval_command(
    config: str | None,
    model_spec: str,
    baseline: str | None,
    prompts_file: str | None,
    max_prompts: int | None,
    output_dir: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Judge MODEL against a baseline on held-out prompts: win rates (both orders), rewards, length, KL.

    \b
    Examples:
      rlaif eval --model runs/default/round-1/checkpoint
      rlaif eval my.yaml --model runs/x/round-2/checkpoint --baseline embedded --prompts held.jsonl --json
    """
    from rlaif.config import load_config, require_valid
    from rlaif.eval.runs import eval_prompts, evaluate_config, save_eval

    loaded = load_config(config)
    if max_prompts is not None:
        eval_section = dict(loaded.raw.get("eval") or {}, max_prompts=max_prompts)
        loaded = loaded.with_overrides(eval=eval_section)
    require_valid(loaded.with_overrides(train=False))  # evaluating needs no trainable policy
    result = evaluate_config(
        loaded, model_spec, baseline, eval_prompts(loaded, prompts_file), progress=not quiet and not as_json
    )
    if output_dir is not None:
        summary_path, records_path = save_eval(result, Path(output_dir))
    if as_json:
        click.echo(json.dumps(result.summary, indent=2))
    else:
        from rlaif.judges.trust import load_judge_eval, trust_text

        known = loaded.settings.judge_agreement
        figures = [load_judge_eval(known, loaded.base_dir)] if known else []
        click.echo(format_summary(result.summary, trust_text(figures, loaded.settings.judge.name)))
        if output_dir is not None:
            click.echo(f"summary: {summary_path}\nrecords: {records_path}")
