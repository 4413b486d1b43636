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
    run.labels = _label_figures(run.path, run.warnings)
    run.judge_agreement = _judge_agreement(run.manifest, run.labels, run.warnings)
    path = Path(output) if output is not None else Path(run_dir) / "report.html"
    atomic_write_text(path, render_report(run))
    return path


def _label_figures(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    """Expert labels' figures when the run has a ``labels.jsonl``; a broken labels file is a warning."""
    if not (path / "labels.jsonl").is_file():
        return None
    from rlaif.errors import RlaifError
    from rlaif.label import run_label_figures

    try:
        return run_label_figures(path)
    except RlaifError as error:
        warnings.append(f"labels.jsonl: {error.message}")
        return None


def _judge_agreement(
    manifest: dict[str, Any], labels: dict[str, Any] | None, warnings: list[str]
) -> list[dict[str, Any]]:
    """The run's judge-eval figure (kept in the manifest when the run started) and its expert labels, as of now."""
    from rlaif.judges.trust import figure_problems, from_label_figures

    figures = []
    for figure in manifest.get("judge_agreement") or []:
        if not isinstance(figure, dict) or figure.get("source") == "labels":
            continue  # labels are read fresh below: some may have been added since the run
        problems = figure_problems(figure)
        if problems:
            warnings.append(f"manifest.json: judge_agreement skipped ({'; '.join(problems)})")
        else:
            figures.append(figure)
    labelled = from_label_figures(labels)
    return figures + ([labelled] if labelled else [])


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``rlaif report`` and ``rlaif data``."""
    from rlaif.report.cli import data, report

    cli.add_command(report)
    cli.add_command(data)
