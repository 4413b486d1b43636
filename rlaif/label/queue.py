"""Who sees which item next, and on which side each response is shown.

Order (``--order``):

- ``uncertain`` (default): where an expert's label is worth most first. Items the judge flagged come first --
  judged ties, position-inconsistent verdicts (the two presentation orders disagree before debiasing), ensembles
  whose members disagree -- then the rest by the judge's margin ``|p - 0.5|``, smallest first. Items without a
  judge verdict (a plain preference file) follow in a fixed pseudo-random order.
- ``random``: a fixed pseudo-random order (``--seed``); the same for every labeller and every restart.
- ``file``: target order.

Overlap (``--overlap K``): an item is offered to a labeller only while fewer than K *other* labellers have
labelled it or hold it open on their page (a claim, released after :data:`CLAIM_SECONDS`), so K labellers see
each item and several labellers split the rest of the queue between them.

Sides: each (item, labeller) gets a fixed left/right order from a hash, so a reload shows the same page, the
two sides are balanced over items, and nothing about the order tells which response was the original, the
revision or the AI's choice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlaif.errors import RlaifError
from rlaif.label.items import Item, Response
from rlaif.label.store import LabelState

ORDERS = ("uncertain", "random", "file")
CLAIM_SECONDS = 15 * 60
"""How long an item shown to one labeller is held back from others (they may be reading it)."""


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode("utf-8")).digest()[:8], "big")


def sides(item: Item, labeller: str) -> tuple[Response, Response]:
    """(left, right) for this labeller: deterministic, independent of which response is which."""
    first, second = item.responses
    return (second, first) if _hash("rlaif-label-sides", item.id, labeller) & 1 else (first, second)


def flagged(item: Item) -> bool:
    """The judge itself was unsure: a tie, a position-inconsistent verdict, or disagreeing ensemble members."""
    judge = item.judge
    if judge is None:
        return False
    return (
        judge.choice is None
        or judge.position_consistent is False
        or (judge.disagreement is not None and judge.disagreement > 0)
    )


def order_items(items: Sequence[Item], order: str = "uncertain", seed: int = 0) -> list[Item]:
    if order not in ORDERS:
        raise RlaifError(f"--order {order!r}: expected one of {', '.join(ORDERS)}")
    if order == "file":
        return sorted(items, key=lambda item: item.index)
    if order == "random":
        return sorted(items, key=lambda item: (_hash("rlaif-label-random", str(seed), item.id), item.index))

    def uncertainty(item: Item) -> tuple[int, float, int, int]:
        tiebreak = _hash("rlaif-label-random", str(seed), item.id)
        if item.judge is None or item.judge.margin is None:
            return (2, 0.5, tiebreak, item.index)
        return (0 if flagged(item) else 1, item.judge.margin, tiebreak, item.index)

    return sorted(items, key=uncertainty)


@dataclass
class Progress:
    labelled: int
    """Items this labeller has labelled (prefer or tie)."""
    skipped: int
    remaining: int
    """Items this labeller could still be offered (including skipped ones, which come back last)."""
    total: int
    complete: int
    """Items labelled by ``overlap`` labellers (done for everyone)."""

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Assigner:
    """Hands each labeller the next item: the open one they were shown, else the first in queue order that
    still needs a label from them (``overlap``), skipped items last."""

    def __init__(self, ordered: Sequence[Item], overlap: int = 1, claim_seconds: float = CLAIM_SECONDS):
        if overlap < 1:
            raise RlaifError("--overlap must be at least 1")
        self.ordered = list(ordered)
        self.overlap = overlap
        self.claim_seconds = claim_seconds
        self.claims: dict[str, tuple[str, float]] = {}
        """labeller -> (item id, time claimed)."""

    def _others(self, item_id: str, labeller: str, state: LabelState, now: float) -> int:
        others = {
            name
            for name, event in state.labels_for(item_id).items()
            if name != labeller and event["verdict"] != "skip"
        }
        for name, (claimed, since) in self.claims.items():
            if claimed == item_id and name != labeller and now - since < self.claim_seconds:
                others.add(name)
        return len(others)

    def next_for(self, labeller: str, state: LabelState, now: float | None = None) -> Item | None:
        now = time.monotonic() if now is None else now
        mine = state.current.get(labeller, {})
        held = self.claims.get(labeller)
        if held is not None and held[0] not in mine:
            item = next((i for i in self.ordered if i.id == held[0]), None)
            if item is not None:
                self.claims[labeller] = (item.id, now)
                return item
        skipped = []
        for item in self.ordered:
            event = mine.get(item.id)
            if event is not None:
                if event["verdict"] == "skip":
                    skipped.append(item)
                continue
            if self._others(item.id, labeller, state, now) < self.overlap:
                self.claims[labeller] = (item.id, now)
                return item
        for item in skipped:
            if self._others(item.id, labeller, state, now) < self.overlap:
                self.claims[labeller] = (item.id, now)
                return item
        self.claims.pop(labeller, None)
        return None

    def pin(self, labeller: str, item_id: str, now: float | None = None) -> None:
        """Show this item next (after an undo)."""
        self.claims[labeller] = (item_id, time.monotonic() if now is None else now)

    def release(self, labeller: str) -> None:
        self.claims.pop(labeller, None)

    def progress(self, labeller: str, state: LabelState, now: float | None = None) -> Progress:
        now = time.monotonic() if now is None else now
        mine = state.current.get(labeller, {})
        ids = {item.id for item in self.ordered}
        labelled = sum(1 for item_id, e in mine.items() if item_id in ids and e["verdict"] != "skip")
        skipped = sum(1 for item_id, e in mine.items() if item_id in ids and e["verdict"] == "skip")
        remaining = complete = 0
        for item in self.ordered:
            votes = sum(1 for e in state.labels_for(item.id).values() if e["verdict"] != "skip")
            complete += votes >= self.overlap
            event = mine.get(item.id)
            if (event is None or event["verdict"] == "skip") and self._others(
                item.id, labeller, state, now
            ) < self.overlap:
                remaining += 1
        return Progress(labelled, skipped, remaining, len(self.ordered), complete)


def describe_order(order: str, items: Sequence[Item]) -> dict[str, Any]:
    """Counts a reader of ``--order uncertain`` wants: how many items were flagged and how many have a judge."""
    return {
        "order": order,
        "flagged": sum(flagged(item) for item in items),
        "with_judge": sum(item.judge is not None for item in items),
    }
