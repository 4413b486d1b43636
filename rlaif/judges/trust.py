"""How far a judge's win rate can be trusted: its measured agreement with people, where that is known.

A win rate is the judge's opinion. Whether it means anything depends on how often that judge agrees with people,
which the run itself cannot know; two measurements can tell it:

- expert labels of this run's own pairs (``rlaif label RUN_DIR`` writes ``RUN_DIR/labels.jsonl``; the caller
  passes :func:`rlaif.label.run_label_figures`' result to :func:`from_label_figures`), and
- a ``rlaif judge-eval ... --json`` result saved to a file and named by the run config's ``judge_agreement``
  (:func:`load_judge_eval`): the judge against any labelled preference data.

Each becomes one plain dict (JSON-safe, so the manifest can keep it); :func:`trust_text` turns the known ones
into the line printed beside every win rate, and says plainly when nothing is known and how to find out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.files import load_json_object

UNKNOWN_HINT = (
    "label pairs: `rlaif label RUN_DIR`; or save `rlaif judge-eval ... --json`, set judge_agreement"
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def judge_eval_problems(data: dict[str, Any], where: str) -> list[Problem]:
    """What is wrong with a judge-eval result: ``agreement`` in [0, 1], ``n`` >= 1, optional 2-number interval."""
    problems = []
    if not _number(data.get("agreement")) or not 0 <= data["agreement"] <= 1:
        problems.append(
            Problem(
                f"expected a number from 0 to 1 (the judge's agreement with people), got {data.get('agreement')!r}",
                where,
                "agreement",
            )
        )
    n = data.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        problems.append(Problem(f"expected a count of labelled pairs >= 1, got {n!r}", where, "n"))
    ci = data.get("agreement_ci95")
    if ci is not None and not (
        isinstance(ci, list) and len(ci) == 2 and all(_number(v) and 0 <= v <= 1 for v in ci)
    ):
        problems.append(Problem(f"expected [low, high] within 0..1, got {ci!r}", where, "agreement_ci95"))
    return problems


def figure_problems(figure: dict[str, Any]) -> list[str]:
    """What is wrong with an agreement figure read back from a manifest (an empty list when it can be shown)."""
    renamed = {
        "agreement": figure.get("agreement"),
        "n": figure.get("n"),
        "agreement_ci95": figure.get("ci95"),
    }
    return [
        f"{problem.where}: {problem.message}" for problem in judge_eval_problems(renamed, "judge_agreement")
    ]


def load_judge_eval(path: str | Path, base_dir: str | Path | None = None) -> dict[str, Any]:
    """A saved ``rlaif judge-eval --json`` result as an agreement figure; a bad file is an RlaifError naming it."""
    path = Path(path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    data = load_json_object(path, "judge-eval result (judge_agreement)")
    problems = judge_eval_problems(data, str(path))
    if problems:
        raise RlaifError(f"{path}: not a `rlaif judge-eval --json` result", problems)
    ci = data.get("agreement_ci95")
    return {
        "source": "judge-eval",
        "file": path.name,
        "judge": str(data["judge"]) if data.get("judge") is not None else None,
        "agreement": float(data["agreement"]),
        "ci95": [float(ci[0]), float(ci[1])] if ci else None,
        "n": int(data["n"]),
    }


def from_label_figures(figures: dict[str, Any] | None) -> dict[str, Any] | None:
    """The judge-expert agreement of a run's own labels (None when no labelled pair was judged)."""
    judge = (figures or {}).get("judge") or {}
    if judge.get("agreement") is None or not judge.get("n"):
        return None
    ci = judge.get("ci95")
    return {
        "source": "labels",
        "file": Path(str(figures.get("labels") or "labels.jsonl")).name,  # type: ignore[union-attr]
        "judge": None,
        "agreement": float(judge["agreement"]),
        "ci95": [float(ci[0]), float(ci[1])] if ci else None,
        "n": int(judge["n"]),
    }


def agreement_text(figure: dict[str, Any]) -> str:
    """``agrees with people 0.51 [0.44, 0.58] on 200 labels (judge-eval: hh.json, judge pairwise)``."""
    text = f"{figure['agreement']:.2f}"
    if figure.get("ci95"):
        text += f" [{figure['ci95'][0]:.2f}, {figure['ci95'][1]:.2f}]"
    origin = "this run's expert labels" if figure.get("source") == "labels" else "judge-eval"
    where = f"{origin}: {figure.get('file')}" + (f", judge {figure['judge']}" if figure.get("judge") else "")
    return f"agrees with people {text} on {figure['n']} labels ({where})"


def trust_text(figures: Sequence[dict[str, Any]], judge: str | None = None) -> str:
    """The line beside a win rate: every known agreement, or "unknown" and how to measure it."""
    if not figures:
        return f"judge agreement with people: unknown ({UNKNOWN_HINT})"
    name = f"judge {judge}" if judge else "judge"
    return f"{name} " + "; ".join(agreement_text(figure) for figure in figures)
