"""``rlaif constitution learn`` and ``rlaif constitution audit``: parse, call the library, print."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from rlaif.options import parse_option_strings


def _echo(message: str) -> None:
    click.echo(message, err=True)


def _fmt(figures: dict[str, Any] | None) -> str:
    if not figures or figures.get("n", 0) == 0 or math.isnan(figures.get("agreement", float("nan"))):
        return "n/a"
    low, high = figures["interval"]
    return f"{figures['agreement']:.3f}  ({low:.3f}-{high:.3f})  n={figures['n']}"


_judge_opts = [
    click.option(
        "--judge",
        default="embedded",
        show_default=True,
        help="Judge model: a spec (embedded, a local "
        "directory, openai:NAME for any OpenAI-compatible server such as vLLM, llamacpp:FILE.gguf) or a YAML mapping "
        "with backend options: '{spec: openai:NAME, base_url: http://127.0.0.1:8000/v1}'.",
    ),
    click.option(
        "--option",
        "options",
        multiple=True,
        metavar="KEY=VALUE",
        help="Pairwise judge option (YAML value), repeatable, e.g. debias=mean.",
    ),
    click.option("--limit", type=click.IntRange(min=2), help="Read at most N pairs."),
    click.option(
        "--context-turns",
        type=click.IntRange(min=1),
        help="Keep only the last N prompt messages of each pair (faster on long dialogues).",
    ),
    click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True),
    click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object."),
]


_output_opts = [
    click.option(
        "--report", type=click.Path(dir_okay=False, writable=True), help="Also write the report as JSON."
    ),
    click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
]


def _with(options: list[Any]):
    def decorate(command: Any) -> Any:
        for decorator in reversed(options):
            command = decorator(command)
        return command

    return decorate


@click.command("learn")
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Where the learned constitution (YAML) goes.",
)
@click.option(
    "--critic", default="embedded", show_default=True, help="Model that proposes principles (as --judge)."
)
@_with(_judge_opts)
@click.option(
    "--start",
    default="helpful-harmless",
    show_default=True,
    help="Starting constitution (path or shipped name): extended, and the baseline of the report.",
)
@click.option(
    "--from-scratch", is_flag=True, help="Write only the learned principles, not the starting ones."
)
@click.option("--name", default="learned", show_default=True, help="Name of the written constitution.")
@click.option("--max-principles", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--holdout",
    type=click.FloatRange(0, 0.9),
    default=0.3,
    show_default=True,
    help="Fraction of pairs held out for the final report.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--propose-pairs",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Tuning pairs the critic explains.",
)
@click.option(
    "--per-pair",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="Principles asked of the critic per pair.",
)
@click.option(
    "--max-candidates",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Most-proposed merged candidates that are tested (each costs 2 judge calls per tuning pair).",
)
@click.option(
    "--merge-threshold",
    type=click.FloatRange(0, 1),
    default=0.6,
    show_default=True,
    help="Word overlap (Jaccard) at which two proposed principles merge.",
)
@click.option(
    "--min-lower-bound",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Keep a candidate when the 95% Wilson lower bound of its agreement is above this.",
)
@click.option("--max-new-tokens", type=click.IntRange(min=8), default=120, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, show_default=True)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, writable=True),
    help="Journal of finished model calls (default OUTPUT.journal.jsonl); re-running resumes from it.",
)
@_with(_output_opts)
def learn(
    data,
    output,
    critic,
    judge,
    options,
    limit,
    context_turns,
    batch_size,
    as_json,
    start,
    from_scratch,
    name,
    max_principles,
    holdout,
    seed,
    propose_pairs,
    per_pair,
    max_candidates,
    merge_threshold,
    min_lower_bound,
    max_new_tokens,
    temperature,
    journal,
    report,
    quiet,
) -> None:
    """Learn a constitution from preference pairs in DATA (Inverse Constitutional AI).

    DATA: labels from `rlaif label` (labels.jsonl), pairs in TRL preference format (a run's pairs.jsonl,
    `rlaif feedback import` output), a feedback log, HH-RLHF files, or a datasets directory; several files
    are read in turn. The critic proposes principles that explain why the preferred response won, near-duplicates
    merge, the pairwise judge (both orders) measures each one's agreement with the labels on a tuning split,
    those above chance with 95% confidence are selected greedily, and the held-out split reports the learned
    constitution against the starting one and the no-model "longer wins" baseline. Re-running resumes.

    \b
    Examples:
      rlaif constitution learn labels.jsonl -o learned.yaml
      rlaif constitution learn hh.jsonl -o learned.yaml --critic openai:big --judge openai:big --limit 400
    """
    from rlaif.constitution_learning.learn import LearnOptions, learn_constitution
    from rlaif.files import atomic_write_json

    settings = LearnOptions(
        critic=critic,
        judge=judge,
        judge_options=parse_option_strings(options),
        start=start,
        from_scratch=from_scratch,
        name=name,
        max_principles=max_principles,
        holdout=holdout,
        seed=seed,
        propose_pairs=propose_pairs,
        per_pair=per_pair,
        max_candidates=max_candidates,
        merge_threshold=merge_threshold,
        min_lower_bound=min_lower_bound,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        limit=limit,
        context_turns=context_turns,
    )
    result = learn_constitution(
        list(data), output, settings, journal=journal, progress=not (quiet or as_json), echo=_echo
    )
    if report:
        atomic_write_json(report, result.report)
    if as_json:
        click.echo(json.dumps(result.report))
    else:
        _print_learn(result.report)
    if result.output is None:
        raise click.ClickException(
            "no candidate principle agreed with the labels above chance; nothing written "
            "(drop --from-scratch to write the starting constitution, or try a stronger --critic / --judge)"
        )
    click.echo(f"Wrote {result.output}")


def _print_learn(report: dict[str, Any]) -> None:
    click.echo(f"Candidates (tuning split, n={report['n_tuning']}):")
    click.echo(f"  {'principle':<40} {'support':>7}  agreement (95% interval)      kept  selected")
    for c in report["candidates"]:
        click.echo(
            f"  {c['id'][:40]:<40} {c['support']:>7}  {_fmt(c):<28}  {'yes' if c['kept'] else 'no':<4}  "
            f"{'yes' if c['selected'] else 'no'}"
        )
    if not report["candidates"]:
        click.echo("  (the critic proposed no usable principle)")
    held = report.get("held_out")
    if held:
        click.echo(f"Held-out agreement with the labels (n={report['n_held_out']}):")
        click.echo(f"  {'learned constitution':<34} {_fmt(held['learned'])}")
        click.echo(f"  {'starting (' + report['starting_constitution'] + ')':<34} {_fmt(held['starting'])}")
        click.echo(f"  {'longer response wins (no model)':<34} {_fmt(held['longer_wins'])}")
    click.echo(
        f"Model calls: {report['calls']['made']} made, {report['calls']['reused']} reused from the journal"
    )


@click.command("audit")
@click.argument("constitution", type=click.Path())
@click.option(
    "--labels",
    "labels",
    required=True,
    multiple=True,
    type=click.Path(),
    help="Labelled pairs: labels.jsonl, TRL/HH pairs, feedback (repeatable).",
)
@_with(_judge_opts)
@click.option(
    "--examples", type=click.IntRange(min=0), default=3, show_default=True, help="Unexplained labels to show."
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, writable=True),
    help="Keep finished judge calls here (re-running resumes; `learn`'s journal works too).",
)
@_with(_output_opts)
def audit(
    constitution,
    labels,
    judge,
    options,
    limit,
    context_turns,
    batch_size,
    as_json,
    examples,
    journal,
    report,
    quiet,
) -> None:
    """Audit CONSTITUTION (path or shipped name) against labelled pairs: which principles the labels support.

    Per principle: agreement of the pairwise judge under it with the labels (both orders; ties = 1/2), 95%
    Wilson interval, n, and how often it picks the longer response; then the labels no principle explains.

    \b
    Example:
      rlaif constitution audit helpful-harmless --labels runs/default/labels.jsonl
    """
    from rlaif.constitution_learning.audit import audit_constitution
    from rlaif.files import atomic_write_json

    result = audit_constitution(
        constitution,
        list(labels),
        judge=judge,
        judge_options=parse_option_strings(options),
        journal=journal,
        limit=limit,
        context_turns=context_turns,
        batch_size=batch_size,
        examples=examples,
        progress=not (quiet or as_json),
    )
    payload = result.to_dict()
    if report:
        atomic_write_json(report, payload)
    if as_json:
        click.echo(json.dumps(payload))
        return
    click.echo(f"Constitution {result.constitution} on {result.n} labelled pairs:")
    click.echo(f"  {'principle':<24} agreement (95% interval)      picks longer")
    for pid, figures in result.principles.items():
        click.echo(f"  {pid[:24]:<24} {_fmt(figures):<28}  {figures['picks_longer']:.3f}")
    click.echo(f"  {'whole constitution':<24} {_fmt(result.overall)}")
    click.echo(f"  {'longer wins (no model)':<24} {_fmt(result.longer_wins)}")
    click.echo(f"Labels no principle explains: {result.unexplained} of {result.n}")
    for example in result.examples:
        click.echo(f"  - {example['id']}: {example['prompt']}")
        click.echo(f"      chosen:   {example['chosen'][:160]}")
        click.echo(f"      rejected: {example['rejected'][:160]}")
