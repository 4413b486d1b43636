"""Filtering run records (pairs, drops) and eval records the same way: by principle, reason, confidence.

A record's judge probability ``p`` is ``judge.p_revision`` for a run record and ``p_model`` for an eval record;
its *confidence* is ``|p - 0.5|`` (0 = a coin flip, 0.5 = certain). Records the judge never saw (dropped
before judging) have neither, so any confidence or probability filter excludes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


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
