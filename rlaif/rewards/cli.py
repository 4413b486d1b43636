"""``rlaif rewards score``: run any installed reward over a JSONL dataset and summarise.

Useful on its own (how often do reference solutions pass? how strict is my format rule?) and as the
smoke test a plugin author runs before wiring a reward into training. The work is in
:mod:`rlaif.rewards.scoring`; this module parses, calls and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rlaif.rewards.scoring import ID_FIELDS, read_records, score_records, summarize


@click.group()
def rewards() -> None:
    """Verifiable rewards: list-free scoring of datasets with any installed reward."""


@rewards.command("score")
@click.option("--reward", "reward_name", required=True, help="Reward name (see `rlaif plugins`).")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="JSONL dataset.")
@click.option(
    "--completion-field",
    default="completion",
    show_default=True,
    help="Field holding the text to score; every other field is passed as a column.",
)
@click.option(
    "--option",
    "option_texts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Reward option; the value is YAML/JSON (@file.json reads it from a file). Repeatable.",
)
@click.option(
    "--output", type=click.Path(path_type=Path, writable=True), help="Write one JSON line per record here."
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON summary object.")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N records.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
def score(
    reward_name: str,
    data_path: Path,
    completion_field: str,
    option_texts: tuple[str, ...],
    output: Path | None,
    as_json: bool,
    limit: int | None,
    batch_size: int,
) -> None:
    """Score the completions in a JSONL dataset and summarise pass rate and statuses.

    \b
    Examples:
      rlaif rewards score --reward code --data humaneval.jsonl --completion-field canonical_solution
      rlaif rewards score --reward math --data gsm8k.jsonl --completion-field solution --json
      rlaif rewards score --reward length --data out.jsonl --option max=200 --option soft=true
    """
    from rlaif.options import parse_option_strings
    from rlaif.plugins import load_registry
    from rlaif.rewards.build import build_reward

    options = parse_option_strings(option_texts)
    registry = load_registry()
    registry.get("rewards", reward_name)  # unknown names fail before the data is read
    records = read_records(data_path, completion_field, limit)
    reward = build_reward(reward_name, options, registry)
    results = score_records(
        reward,
        records,
        completion_field,
        batch_size,
        progress=len(records) > batch_size and sys.stderr.isatty(),
    )
    if output is not None:
        from rlaif.files import write_jsonl

        rows = []
        for (number, record), result in zip(records, results, strict=True):
            row: dict[str, Any] = {"line": number}
            for field in ID_FIELDS:
                if field in record:
                    row[field] = record[field]
                    break
            row.update(score=result["score"], status=result["status"], message=result.get("message", ""))
            if result.get("hack"):
                row["hack"] = result["hack"]
            rows.append(row)
        write_jsonl(output, rows)  # temp file + rename: an interrupted scoring never leaves half a file
    summary = summarize(results)
    if as_json:
        click.echo(json.dumps(summary))
        return
    mean = "n/a" if summary["mean"] is None else f"{summary['mean']:.4f}"
    click.echo(f"reward {reward_name}: n={summary['n']} mean={mean} pass_rate={summary['pass_rate']:.4f}")
    for status, count in summary["statuses"].items():
        click.echo(f"  {status:>8}: {count}")
    for hack, count in (summary.get("hacks") or {}).items():
        click.echo(f"  hack caught: {hack}: {count}")
    if output is not None:
        click.echo(f"per-record results: {output}")
