"""Evaluation: a trained policy against its baseline, judged on prompts held out from training.

``from rlaif.eval import evaluate`` for the model-level function, :func:`evaluate_config` for the run-config
level (what ``rlaif eval`` and the pipeline use). See docs/eval-report.md.
"""

from __future__ import annotations

from typing import Any

from rlaif.eval.core import EvalResult, EvalSettings, evaluate, outcome, tally
from rlaif.eval.holdout import PromptSplit, prompt_split, split_items
from rlaif.hookspecs import hookimpl

__all__ = [
    "EvalResult",
    "EvalSettings",
    "PromptSplit",
    "evaluate",
    "evaluate_config",
    "outcome",
    "prompt_split",
    "split_items",
    "tally",
]


def __getattr__(name: str) -> Any:
    if name == "evaluate_config":  # imports the pipeline; keep `import rlaif.eval` light
        from rlaif.eval.runs import evaluate_config

        return evaluate_config
    raise AttributeError(name)


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``rlaif eval``."""
    from rlaif.eval.cli import eval_command

    cli.add_command(eval_command)
