"""``rlaif report RUN_DIR`` and ``rlaif data show FILE``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write (default: RUN_DIR/report.html).",
)
def report(run_dir: str, output: str | None) -> None:
    """Write a self-contained HTML report of RUN_DIR: counts, plots, eval, a browsable sample of pairs.

    \b
    Example:
      rlaif report runs/default && xdg-open runs/default/report.html
    """
    from rlaif.report import write_report

    click.echo(f"Report: {write_report(run_dir, output)}")


@click.group()
def data() -> None:
    """Look at run data: pairs, drops and eval records."""


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@data.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--principle", multiple=True, help="Only these principle ids (repeat or comma-separate).")
@click.option("--reason", multiple=True, help="Only drops with these reasons (e.g. tie, 'empty answer').")
@click.option("--status", multiple=True, help="Only pair/drop (run records) or win/loss/tie (eval records).")
@click.option(
    "--min-confidence", type=click.FloatRange(0, 0.5), help="Judge confidence |p-0.5| at least this."
)
@click.option(
    "--max-confidence", type=click.FloatRange(0, 0.5), help="Judge confidence |p-0.5| at most this."
)
@click.option("--min-p", type=click.FloatRange(0, 1), help="Judge probability p at least this.")
@click.option("--max-p", type=click.FloatRange(0, 1), help="Judge probability p at most this.")
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="Show at most N."
)
@click.option("--json", "as_json", is_flag=True, help="Print the matching records as JSONL instead.")
def data_show(
    file: str,
    principle: tuple[str, ...],
    reason: tuple[str, ...],
    status: tuple[str, ...],
    min_confidence: float | None,
    max_confidence: float | None,
    min_p: float | None,
    max_p: float | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show records from FILE (a run's records.jsonl / pairs.jsonl, or eval_records.jsonl), filtered.

    p is the judge's probability (P(revision better) for run records, P(trained better) for eval records).

    \b
    Examples:
      rlaif data show runs/default/round-1/records.jsonl --reason tie
      rlaif data show runs/default/round-1/pairs.jsonl --principle harmless --max-confidence 0.1
      rlaif data show runs/default/round-1/eval_records.jsonl --status loss --json
    """
    from rlaif.errors import RlaifError
    from rlaif.files import iter_jsonl
    from rlaif.report.records import RecordFilter, record_problems, select
    from rlaif.report.terminal import show

    flt = RecordFilter(
        _split(principle), _split(reason), _split(status), min_confidence, max_confidence, min_p, max_p
    )

    def checked() -> Iterator[dict[str, Any]]:
        for number, record in iter_jsonl(Path(file), "records file"):
            problems = record_problems(record)
            if problems:
                raise RlaifError(f"{file}: line {number}: {'; '.join(problems)}")
            yield record

    chosen = select(checked(), flt, limit)
    if as_json:
        for record in chosen:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    shown = show(chosen)
    click.echo(f"{shown} record(s) shown (limit {limit}).", err=True)
