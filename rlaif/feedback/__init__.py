"""Feedback import: ``rlaif feedback import FILE -o PAIRS.jsonl`` (see :mod:`rlaif.feedback.importer`)."""

from __future__ import annotations

from typing import Any

import click

from rlaif.hookspecs import hookimpl


@click.group()
def feedback() -> None:
    """Turn logged user feedback into preference pairs."""


@feedback.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Pairs JSONL to write.",
)
def import_feedback(file: str, output: str) -> None:
    """Convert FILE (JSONL of choice / edit / rating events) into DPO pairs (docs/optimizers.md)."""
    from rlaif.errors import RlaifError
    from rlaif.feedback.importer import feedback_pairs
    from rlaif.files import write_jsonl

    pairs, counts = feedback_pairs(file)
    if not pairs:
        raise RlaifError(f"{file}: no pairs could be made from this feedback", hint=f"counts: {counts}")
    write_jsonl(output, pairs)
    details = ", ".join(f"{k}: {v}" for k, v in counts.items() if k not in ("pairs",))
    click.echo(f"Wrote {len(pairs)} pairs to {output} ({details}). Train on them: rlaif train {output}")


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_command(feedback)
