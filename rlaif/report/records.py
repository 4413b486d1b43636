"""Filtering run records (pairs, drops) and eval records the same way: by principle, reason, confidence.

A record's judge probability ``p`` is ``judge.p_revision`` for a run record and ``p_model`` for an eval record;
its *confidence* is ``|p - 0.5|`` (0 = a coin flip, 0.5 = certain). Records the judge never saw (dropped
before judging) have neither, so any confidence or probability filter excludes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from rlaif.records import is_message_list


def probability(record: dict[str, Any]) -> float | None:
    if isinstance(record.get("p_model"), int | float):
        return float(record["p_model"])
    judge = record.get("judge")
    if isinstance(judge, dict) and isinstance(judge.get("p_revision"), int | float):
        return float(judge["p_revision"])
    return None


def confidence(record: dict[str, Any]) -> float | None:
    p = probability(record)
    return None if p is None else abs(p - 0.5)


def status(record: dict[str, Any]) -> str:
    """``pair``, ``drop`` or an eval outcome (``win``/``loss``/``tie``)."""
    return str(record.get("outcome") or record.get("status") or "?")


_TEXT_FIELDS = (
    "id", "principle_id", "status", "outcome", "reason", "kind",
    "original", "critique", "revision", "baseline_response", "model_response",
)  # fmt: skip


def record_problems(record: dict[str, Any]) -> list[str]:
    """Why ``record`` is not a run record (pair/drop), a pairs-file row or an eval record (empty: it is one).

    Only what showing and filtering rely on is checked, so records from older or newer versions still show.
    """
    if not any(key in record for key in ("status", "outcome", "chosen")):
        return [
            "expected a run record ('status': pair/drop), a pair ('chosen', 'rejected') or an eval record"
        ]
    problems = []
    for key in _TEXT_FIELDS:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            problems.append(f"'{key}' must be text, got {type(value).__name__}")
    prompt = record.get("prompt")
    if prompt is not None and not isinstance(prompt, str) and not is_message_list(prompt):
        problems.append(
            f"'prompt' must be text or a list of {{role, content}} messages, got {type(prompt).__name__}"
        )
    if "round" in record and (not isinstance(record["round"], int) or isinstance(record["round"], bool)):
        problems.append(f"'round' must be a whole number, got {type(record['round']).__name__}")
    if record.get("judge") is not None and not isinstance(record["judge"], dict):
        problems.append(f"'judge' must be an object, got {type(record['judge']).__name__}")
    p_model = record.get("p_model")
    if p_model is not None and (not isinstance(p_model, int | float) or isinstance(p_model, bool)):
        problems.append(f"'p_model' must be a number, got {type(p_model).__name__}")
    return problems


@dataclass
class RecordFilter:
    principle: tuple[str, ...] = ()
    reason: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    min_confidence: float | None = None
    max_confidence: float | None = None
    min_p: float | None = None
    max_p: float | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        if self.principle and record.get("principle_id") not in self.principle:
            return False
        if self.reason and record.get("reason") not in self.reason:
            return False
        if self.status and status(record) not in self.status:
            return False
        conf, p = confidence(record), probability(record)
        for bound, value, lower in (
            (self.min_confidence, conf, True),
            (self.max_confidence, conf, False),
            (self.min_p, p, True),
            (self.max_p, p, False),
        ):
            if bound is None:
                continue
            if value is None or (value < bound if lower else value > bound):
                return False
        return True


def select(records: Iterable[dict[str, Any]], flt: RecordFilter, limit: int | None = None) -> Iterator[dict]:
    count = 0
    for record in records:
        if limit is not None and count >= limit:
            return
        if flt.matches(record):
            count += 1
            yield record
