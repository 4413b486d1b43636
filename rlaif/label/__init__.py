"""Experts in the loop: ``rlaif label``, a local web page where a team's own experts review pairs, and the labels
that then measure, calibrate and overrule the judge. See docs/labelling.md.

Library entry points (everything here is importable without starting a server):

- :func:`load_items` -- the labelable items of a run directory, records/pairs file or TRL dataset;
- :class:`LabelStore` / :func:`read_events` / :func:`replay` -- the append-only ``labels.jsonl``;
- :func:`apply_labels` -- a round's records with the experts' verdicts applied (flip, drop, add);
- :func:`label_stats` -- counts, agreement between labellers (Cohen's kappa), judge-expert agreement;
- :func:`labelled_pairs` / :func:`evaluate_judge_on_labels` -- labels as judge-eval / fit-ensemble data.
"""

from __future__ import annotations

from typing import Any

from rlaif.hookspecs import hookimpl
from rlaif.label.consensus import HumanVerdict, index_labels
from rlaif.label.items import Item, ItemSet, default_labels_path, load_items, read_records
from rlaif.label.overrule import apply_labels, overrule_counts
from rlaif.label.session import LabelSession, open_session, resolve_labels
from rlaif.label.stats import format_stats, label_stats, run_label_figures
from rlaif.label.store import LabelState, LabelStore, read_events, replay

__all__ = [
    "HumanVerdict",
    "Item",
    "ItemSet",
    "LabelSession",
    "LabelState",
    "LabelStore",
    "apply_labels",
    "default_labels_path",
    "evaluate_judge_on_labels",
    "format_stats",
    "index_labels",
    "label_stats",
    "labelled_pairs",
    "load_items",
    "open_session",
    "overrule_counts",
    "read_events",
    "read_records",
    "replay",
    "resolve_labels",
    "run_label_figures",
]


def __getattr__(name: str) -> Any:
    """The judge bridge imports the judge machinery: load it only when asked for."""
    if name in ("labelled_pairs", "evaluate_judge_on_labels"):
        from rlaif.label import judging

        return getattr(judging, name)
    raise AttributeError(name)


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``rlaif label`` (serve, stats, export, import)."""
    from rlaif.label.cli import label

    cli.add_command(label)
