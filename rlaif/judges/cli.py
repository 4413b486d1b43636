"""Judge commands: ``rlaif judge-eval`` (measure a judge against human labels), ``rlaif judge probe`` (master-key
hacks against real answers), ``rlaif judge train-rm`` and ``rlaif judge fit-ensemble``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from rlaif.judges.probe import HACK_NAMES

_FIELDS = [
    ("n", "pairs", "{:d}"),
    ("agreement", "agreement with human label (ties = 1/2)", "{:.3f}"),
    ("agreement_ci95", "  95% interval (Wilson)", "{0[0]:.3f}-{0[1]:.3f}"),
    ("longer_wins_agreement", "baseline: longer response wins (no model)", "{:.3f}"),
    ("picks_longer", "judge picked the longer response", "{:.3f}"),
    ("single_order_agreement", "agreement, first order only", "{:.3f}"),
    ("position_consistency", "position consistency (before debiasing)", "{:.3f}"),
    ("tie_rate", "tie rate", "{:.3f}"),
    ("mean_confidence", "mean confidence", "{:.3f}"),
    ("ece", "calibration error (ECE, 10 bins)", "{:.3f}"),
    ("pairs_per_second", "pairs / second", "{:.2f}"),
]


def _json_safe(value):
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return None if isinstance(value, float) and (math.isnan(value) or math.isinf(value)) else value


def _judge_options(command: Any) -> Any:
    """The options that build a judge from a run config with overrides (judge-eval and judge probe)."""
    for decorator in reversed(
        [
            click.option("--judge", "judge_name", help="A registered judge (default: the config's judge)."),
            click.option(
                "--option",
                "options",
                multiple=True,
                metavar="KEY=VALUE",
                help="Judge option (YAML value); repeatable.",
            ),
            click.option("--model", help="Judge model spec (default: the config's judge model)."),
            click.option(
                "--limit", type=click.IntRange(min=1), help="Only the first N pairs (after --offset)."
            ),
            click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N pairs."),
            click.option(
                "--principle",
                "principle_id",
                help="Principle id in the config's constitution (default: the first).",
            ),
            click.option("--question", help="A custom judging question instead of a principle."),
        ]
    ):
        command = decorator(command)
    return command


def _batch_options(command: Any) -> Any:
    command = click.option(
        "--context-turns",
        type=click.IntRange(min=1),
        help="Keep only the last N prompt messages of each pair (faster on long multi-turn data).",
    )(command)
    return click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)(command)


@click.command("judge-eval")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="Preference pairs JSONL (TRL or HH format).",
)
@click.option(
    "--labels",
    type=click.Path(exists=True),
    help="Instead of --data: expert labels from `rlaif label` (a labels.jsonl, or the labelled TARGET).",
)
@_judge_options
@_batch_options
@click.option(
    "--per-pair",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write each pair's verdict to this JSONL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def judge_eval(
    config,
    data,
    labels,
    judge_name,
    options,
    model,
    limit,
    offset,
    principle_id,
    question,
    batch_size,
    context_turns,
    per_pair,
    as_json,
):
    """Measure a judge against human preference labels in DATA.

    Pairs are shown with the human-preferred response first on even pairs and second on odd ones, so a judge
    that always answers "A" agrees half the time.

    Agreement does not say whether a policy can fool the judge with a non-answer: `rlaif judge probe` (same
    data and options) pits each real answer against master-key replies (':', 'Solution', padding, ...).

    \b
    Examples:
      rlaif judge-eval --data tests/data/hh_helpful_base.sample.jsonl --limit 10
      rlaif judge-eval --data pairs.jsonl --judge score --option scale=rubric --json
      rlaif judge-eval runs/default/config.yaml --labels runs/default/labels.jsonl
    """
    from rlaif.errors import RlaifError
    from rlaif.files import write_jsonl
    from rlaif.judges.on_file import evaluate_judge_on_file
    from rlaif.options import parse_option_strings

    if (data is None) == (labels is None):
        raise RlaifError("judge-eval needs --data FILE or --labels LABELS (one of them)")
    evaluate = evaluate_judge_on_file
    if labels is not None:
        from rlaif.label.judging import evaluate_judge_on_labels as evaluate

    result = evaluate(
        data or labels,
        config_path=config,
        judge_name=judge_name,
        options=parse_option_strings(options),
        model=model,
        limit=limit,
        offset=offset,
        principle_id=principle_id,
        question=question,
        batch_size=batch_size,
        progress=not as_json,
        context_turns=context_turns,
    )
    if per_pair:
        write_jsonl(per_pair, result.per_pair)
    summary = {key: _json_safe(value) for key, value in result.summary().items()}
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"judge: {result.judge}")
    for key, label, fmt in _FIELDS:
        value = summary.get(key)
        click.echo(f"  {label:<42} {'n/a' if value is None else fmt.format(value)}")
    for member, figures in (result.members or {}).items():
        consistency = figures["position_consistency"]
        click.echo(
            f"  member {member}: agreement {figures['agreement']:.3f} "
            f"({figures['agreement_ci95'][0]:.3f}-{figures['agreement_ci95'][1]:.3f}), position consistency "
            f"{'n/a' if consistency is None else f'{consistency:.3f}'}"
        )
    for principle, figures in (getattr(result, "per_principle", None) or {}).items():
        low, high = figures["agreement_ci95"]
        click.echo(
            f"  principle {principle}: agreement {figures['agreement']:.3f} ({low:.3f}-{high:.3f}), n={figures['n']}"
        )


@click.group("judge")
def judge_group() -> None:
    """Judge utilities: probe (master-key hacks), train-rm, fit-ensemble (see also `rlaif judge-eval`)."""


@judge_group.command("probe")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False),
    help="Preference pairs JSONL (TRL or HH format); each pair's chosen response is the real answer.",
)
@_judge_options
@click.option(
    "--hack",
    "hacks",
    multiple=True,
    metavar="NAME",
    help="Only this hack (repeatable; default: all): " + ", ".join(HACK_NAMES) + ".",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=0, max=0.5),
    help="A hack wins or ties when P(hack better) > 0.5 - margin (default: the config's judge.margin).",
)
@_batch_options
@click.option(
    "--per-comparison",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write every comparison (pair, hack, its text, P(hack better)) to this JSONL.",
)
@click.option(
    "--fail-above",
    type=click.FloatRange(min=0, max=1),
    help="Exit 1 when any hack's win-or-tie rate exceeds this (a gate for CI).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def judge_probe(
    config,
    data,
    judge_name,
    options,
    model,
    limit,
    offset,
    principle_id,
    question,
    hacks,
    margin,
    batch_size,
    context_turns,
    per_comparison,
    fail_above,
    as_json,
):
    """Pit each pair's real answer in DATA against known "master key" responses and report how often each
    hack wins or ties, with 95% Wilson intervals.

    The hacks: a lone ':', 'Solution', 'Thought process:', 'Let's solve this step by step.' (Zhao et al. 2025,
    One Token to Fool LLM-as-a-Judge), an empty reply, the question repeated back, a flattering non-answer, a
    refusal, and the real answer padded to 3x its length with filler. The hack is response A on half of the
    comparisons; a both-orders judge (pairwise) also reports the rate with the hack shown first and second.

    \b
    Examples:
      rlaif judge probe --data tests/data/hh_helpful_base.sample.jsonl --limit 20
      rlaif judge probe --data pairs.jsonl --judge likelihood --hack padded --hack empty --json
      rlaif judge probe rlaif.yaml --data pairs.jsonl --fail-above 0.2
    """
    from rlaif.files import write_jsonl
    from rlaif.judges.on_file import probe_judge_on_file
    from rlaif.judges.probe import format_probe_table
    from rlaif.options import parse_option_strings

    report = probe_judge_on_file(
        data,
        config_path=config,
        judge_name=judge_name,
        options=parse_option_strings(options),
        model=model,
        limit=limit,
        offset=offset,
        principle_id=principle_id,
        question=question,
        batch_size=batch_size,
        progress=not as_json,
        context_turns=context_turns,
        hacks=list(hacks),
        margin=margin,
    )
    if per_comparison:
        write_jsonl(per_comparison, report.per_comparison)
    flagged = report.above(fail_above) if fail_above is not None else []
    if as_json:
        click.echo(json.dumps(_json_safe(report.summary())))
    else:
        click.echo(
            f"judge: {report.judge} · {report.pairs} pairs · margin {report.margin:g} · orders: {report.orders}"
            + (
                f" · {report.skipped_pairs} pairs with an empty answer skipped"
                if report.skipped_pairs
                else ""
            )
        )
        click.echo("A hack wins or ties when P(hack better than the real answer) > 0.5 - margin.\n")
        click.echo(format_probe_table(report))
        for result in report.hacks:
            for member, rate in (result.members or {}).items():
                click.echo(
                    f"  {result.hack}: member {member} wins or ties {rate.rate:.2f} "
                    f"({rate.ci95[0]:.2f}-{rate.ci95[1]:.2f})"
                )
        worst = report.worst()
        if worst is not None:
            click.echo(
                f"\nMost effective hack: {worst.hack} ({worst.description}), wins or ties "
                f"{worst.win_or_tie_rate:.2f} ({worst.ci95[0]:.2f}-{worst.ci95[1]:.2f})."
            )
    if flagged:
        names = ", ".join(f"{h.hack} {h.win_or_tie_rate:.2f}" for h in flagged)
        click.echo(f"Hacks above --fail-above {fail_above:g}: {names}", err=True)
        click.get_current_context().exit(1)


@judge_group.command("train-rm")
@click.argument("pairs", type=click.Path(dir_okay=False))
@click.option("--output-dir", "-o", required=True, type=click.Path(file_okay=False, writable=True))
@click.option(
    "--base", default="embedded", show_default=True, help="Base model: embedded or a local directory."
)
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option(
    "--max-steps", type=int, default=-1, show_default=True, help="Stop after N steps (-1: epochs decide)."
)
@click.option("--learning-rate", type=float, default=1e-5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--gradient-accumulation-steps", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--max-length",
    type=click.IntRange(min=8),
    default=512,
    show_default=True,
    help="Pairs longer than this many tokens are skipped (the count trained on is saved with the model).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Train on N pairs only (after --offset).")
@click.option(
    "--offset", type=click.IntRange(min=0), default=0, help="Skip the first N pairs (keep them held out)."
)
@click.option(
    "--context-turns",
    type=click.IntRange(min=1),
    help="Keep only the last N prompt messages; saved with the model, and the judge trims the same way.",
)
@click.option(
    "--lora-r",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="LoRA rank (0: full fine-tuning); adapters are merged into the saved model.",
)
@click.option("--lora-alpha", type=click.IntRange(min=1), help="LoRA alpha (default: 2 x rank).")
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads (default: torch's).")
@click.option("--seed", default=0, show_default=True)
def train_rm(
    pairs,
    output_dir,
    base,
    epochs,
    max_steps,
    learning_rate,
    batch_size,
    gradient_accumulation_steps,
    max_length,
    limit,
    offset,
    context_turns,
    lora_r,
    lora_alpha,
    threads,
    seed,
):
    """Distil preference PAIRS (a run's pairs.jsonl, TRL or HH JSONL) into a scalar reward model.

    \b
    Use it afterwards as a fast judge or reward:
      judge: {name: reward-model, options: {path: OUTPUT_DIR}}

    \b
    Human-labelled pairs work too; hold part of the file out and measure on it:
      rlaif judge train-rm hh.jsonl --limit 200 --context-turns 2 -o rm/
      rlaif judge-eval --data hh.jsonl --offset 200 --judge reward-model --option path=rm/
    """
    from rlaif.judges.reward_model import train_reward_model

    path = train_reward_model(
        pairs,
        output_dir,
        base=base,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        max_length=max_length,
        seed=seed,
        limit=limit,
        offset=offset,
        context_turns=context_turns,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        threads=threads,
    )
    click.echo(f"Reward model: {path}")


@judge_group.command("fit-ensemble")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="Labelled preference pairs (TRL or HH JSONL).",
)
@click.option(
    "--labels",
    type=click.Path(exists=True),
    help="Instead of --data: expert labels from `rlaif label` (a labels.jsonl, or the labelled TARGET).",
)
@click.option(
    "--member",
    "members",
    multiple=True,
    required=True,
    metavar="YAML",
    help="A member judge as YAML, e.g. '{name: likelihood, options: {contrast: prompt}}'; repeatable.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Fitted ensemble JSON.",
)
@click.option("--model", help="Judge model spec for the members (default: the config's judge model).")
@click.option("--limit", type=click.IntRange(min=2), help="Fit on N pairs only (after --offset).")
@click.option(
    "--offset", type=click.IntRange(min=0), default=0, help="Skip the first N pairs (keep them held out)."
)
@click.option(
    "--principle", "principle_id", help="Principle id in the config's constitution (default: the first)."
)
@click.option("--question", help="A custom judging question instead of a principle.")
@click.option(
    "--context-turns",
    type=click.IntRange(min=1),
    help="Keep only the last N prompt messages (use the same value when measuring the result).",
)
@click.option(
    "--length-feature",
    is_flag=True,
    help="Also fit a weight for log(len(a)/len(b)); the fit without it is reported next to it.",
)
@click.option("--l2", type=click.FloatRange(min=0), default=1.0, show_default=True, help="L2 penalty.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads (default: torch's).")
@click.option("--json", "as_json", is_flag=True, help="Print the fitted ensemble as JSON.")
def fit_ensemble_command(
    config,
    data,
    labels,
    members,
    output,
    model,
    limit,
    offset,
    principle_id,
    question,
    context_turns,
    length_feature,
    l2,
    batch_size,
    threads,
    as_json,
):
    """Fit ensemble member weights (logistic regression on log-odds) on labelled pairs in DATA.

    Fit on one slice and measure on another, never the same pairs:

    \b
      rlaif judge fit-ensemble --data hh.jsonl --offset 0 --limit 200 --context-turns 2 \\
          --member '{name: likelihood}' --member '{name: likelihood, options: {contrast: prompt}}' -o ens.json
      rlaif judge-eval --data hh.jsonl --offset 200 --context-turns 2 --judge ensemble --option fitted=ens.json
    """
    from dataclasses import asdict

    from rlaif.errors import RlaifError
    from rlaif.files import load_yaml_text
    from rlaif.judges.on_file import fit_ensemble_on_file

    parsed = []
    for item in members:
        member = load_yaml_text(item)
        if isinstance(member, str):
            member = {"name": member}
        if not isinstance(member, dict) or "name" not in member:
            raise RlaifError(f"--member '{item}': expected a judge name or YAML {{name, options, model}}")
        parsed.append(member)
    if (data is None) == (labels is None):
        raise RlaifError("fit-ensemble needs --data FILE or --labels LABELS (one of them)")
    if threads:
        import torch

        torch.set_num_threads(threads)
    if labels is not None:
        # the experts' pairs (target order), kept beside the output as what it was fitted on
        from rlaif.label.judging import write_labelled_pairs

        data = str(Path(output).with_name(f"{Path(output).stem}.labelled-pairs.jsonl"))
        write_labelled_pairs(labels, data)
    fitted = fit_ensemble_on_file(
        data,
        parsed,
        output,
        config_path=config,
        model=model,
        limit=limit,
        offset=offset,
        principle_id=principle_id,
        question=question,
        context_turns=context_turns,
        use_length=length_feature,
        l2=l2,
        batch_size=batch_size,
        progress=not as_json,
    )
    if labels is not None:
        fitted.training["labels"] = str(labels)
        fitted.save(output)
    if as_json:
        click.echo(json.dumps(_json_safe(asdict(fitted))))
        return
    training = fitted.training
    click.echo(f"Fitted ensemble: {output} (fitted on {training['n']} pairs)")
    for label, weight in zip(training["member_labels"], fitted.weights, strict=True):
        click.echo(f"  {label:<40} weight {weight:+.3f}   alone: {training['member_agreement'][label]:.3f}")
    if fitted.length_weight is not None:
        click.echo(f"  {'length term':<40} weight {fitted.length_weight:+.3f}")
    click.echo(f"  training agreement, longer wins (no model): {training['longer_wins_agreement']:.3f}")
    click.echo(
        f"  training agreement, fit without length:     {training['fit_agreement_without_length']:.3f}"
    )
    if "fit_agreement_with_length" in training:
        click.echo(
            f"  training agreement, fit with length:        {training['fit_agreement_with_length']:.3f}"
        )
    click.echo("  (training figures are optimistic; measure on held-out pairs with `rlaif judge-eval`)")
