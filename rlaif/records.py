"""The records a run writes, typed: one home for what a pair and a drop look like, and for counting drops.

Every prompt of a round ends as exactly one record in ``round-N/records.jsonl`` (the journal): a **pair**
(``status: "pair"``; TRL conversational preference columns ``prompt`` / ``chosen`` / ``rejected`` plus
provenance) or a **drop** (``status: "drop"``, ``reason`` one of :class:`DropReason`). The engine writes them;
the pipeline, the report, eval and ``rlaif data show`` read them through the helpers here. Records stay plain
JSON mappings on disk (any tool can read them); the ``TypedDict`` classes document their shape for readers.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal, TypedDict


class DropReason(str, enum.Enum):
    """Why a prompt made no pair (the ``reason`` of a drop record)."""

    EMPTY_ANSWER = "empty answer"
    EMPTY_REVISION = "empty revision"
    REVISION_IDENTICAL = "revision identical to answer"
    REVISION_REPEATS_CRITIQUE = "revision repeats the critique"
    TIE = "tie"
    LOW_MARGIN = "low margin"
    TOO_FEW_CANDIDATES = "fewer than 2 distinct scored candidates"
    HUMAN_TIE = "human tie"
    """An expert labelled the pair a tie (``rlaif label``): overruled out of the training data."""

    def __str__(self) -> str:
        return self.value


class RunRecord(TypedDict, total=False):
    """Fields every record has (more provenance may follow: critique, revision, judge details, usage)."""

    id: str
    status: Literal["pair", "drop"]
    prompt: Any
    principle_id: str
    round: int
    seed: int


class PairRecord(RunRecord, total=False):
    chosen: Any
    rejected: Any
    chosen_source: str
    judge: dict[str, Any]


class DropRecord(RunRecord, total=False):
    reason: str


def is_pair(record: dict[str, Any]) -> bool:
    return record.get("status") == "pair"


def is_drop(record: dict[str, Any]) -> bool:
    return record.get("status") == "drop"


def drop(record: dict[str, Any], reason: DropReason) -> dict[str, Any]:
    """Mark ``record`` (in place) as a drop for ``reason``; returns it."""
    record.update(status="drop", reason=reason.value)
    return record


def count_drops(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """``{reason: count}`` over the drop records (the one drop counter: summary, manifest and report)."""
    return dict(Counter(str(record.get("reason", "?")) for record in records if is_drop(record)))


def is_message_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
    )


def pair_record_problems(record: dict[str, Any]) -> list[str]:
    """What keeps one pairs-file record from being a TRL preference example (empty list: it is one)."""
    problems = []
    for key in ("prompt", "chosen", "rejected"):
        if key not in record:
            problems.append(f"missing {key}")
        elif not (isinstance(record[key], str) and record[key].strip()) and not is_message_list(record[key]):
            problems.append(
                f"'{key}' must be a non-empty string or a list of {{role, content}} messages, "
                f"got {type(record[key]).__name__}"
            )
    return problems


def pairs_dataset(records: list[dict[str, Any]]) -> Any:
    """Pairs as a ``datasets.Dataset`` (TRL conversational preference columns + flat provenance)."""
    from datasets import Dataset

    pairs = [r for r in records if is_pair(r)]
    rows = {
        "prompt": [r["prompt"] for r in pairs],
        "chosen": [r["chosen"] for r in pairs],
        "rejected": [r["rejected"] for r in pairs],
        "id": [r["id"] for r in pairs],
        "principle_id": [r["principle_id"] for r in pairs],
        "p_revision": [float(r["judge"].get("p_revision", r["judge"].get("p_chosen"))) for r in pairs],
        "chosen_source": [r["chosen_source"] for r in pairs],
        "round": [r["round"] for r in pairs],
        "seed": [r["seed"] for r in pairs],
        "label_source": [r.get("label_source", "ai") for r in pairs],
    }
    return Dataset.from_dict(rows)
