"""Seeing what a run did: the self-contained HTML report and the terminal record browser.

``from rlaif.report import write_report``; the commands ``rlaif report`` and ``rlaif data show`` are added
through ``register_commands``. See docs/eval-report.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.files import atomic_write_text
from rlaif.hookspecs import hookimpl


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write ``report.html`` for a run directory (default: inside it) and return its path."""
    from rlaif.report.html import render_report
    from rlaif.report.rundata import load_run

    run = load_run(run_dir)
    path = Path(output) if output is not None else Path(run_dir) / "report.html"
    atomic_write_text(path, render_report(run))
    return path


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``rlaif report`` and ``rlaif data``."""
    from rlaif.report.cli import data, report

    cli.add_command(report)
    cli.add_command(data)
