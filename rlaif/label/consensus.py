"""From each labeller's labels to one human verdict per item, and the checks that keep labels honest.

An item's human verdict is the strict plurality of its labellers' verdicts (a response id or ``tie``; skips do not
vote). When no verdict has a strict plurality -- two experts who disagree -- the verdict is ``tie`` with
``split`` set: the experts could not agree, so the pair should not teach the model either way.

A label counts only for the item it was made on: an unknown item id (a label for another target) or a digest
that no longer matches (the run was regenerated since) is set aside and reported, never applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rlaif.label.items import Item
from rlaif.label.store import LabelState


@dataclass(frozen=True)
class HumanVerdict:
    item: str
    verdict: str
    """The response id the experts prefer, or ``tie``."""
    votes: dict[str, int]
    """Response id or ``tie`` -> number of labellers."""
    labellers: tuple[str, ...]
    reasons: tuple[tuple[str, str], ...] = ()
    """``(labeller, reason)`` for every non-empty reason."""

    @property
    def split(self) -> bool:
        """True when the experts disagreed with no plurality (the verdict is then a tie)."""
        ranked = sorted(self.votes.values(), reverse=True)
        return len(ranked) > 1 and ranked[0] == ranked[1]

    @property
    def prefers(self) -> str | None:
        return None if self.verdict == "tie" else self.verdict


@dataclass
class LabelIndex:
    """Human verdicts for the items of a target, with what was set aside."""

    verdicts: dict[str, HumanVerdict]
    """item id -> verdict, for items with at least one prefer/tie label."""
    unknown: Counter = field(default_factory=Counter)
    """labeller -> labels for items not in this target."""
    stale: Counter = field(default_factory=Counter)
    """labeller -> labels whose item changed since (digest mismatch)."""

    def notes(self) -> list[str]:
        out = []
        if self.unknown:
            out.append(
                f"{sum(self.unknown.values())} label(s) are for items not in this target (another file?); ignored"
            )
        if self.stale:
            out.append(
                f"{sum(self.stale.values())} label(s) were made on a different version of their item "
                "(the run was regenerated?); ignored"
            )
        return out


def valid_label(event: Mapping[str, Any], item: Item | None) -> bool:
    """The label is for this item as it is now, and names its responses."""
    if item is None or event.get("digest") != item.digest:
        return False
    ids = {r.id for r in item.responses}
    if event["verdict"] == "prefer":
        return event.get("chosen") in ids and event.get("rejected") in ids
    return True


def index_labels(state: LabelState, items: Mapping[str, Item]) -> LabelIndex:
    """One :class:`HumanVerdict` per labelled item of ``items`` (id -> item)."""
    per_item: dict[str, list[dict[str, Any]]] = {}
    index = LabelIndex(verdicts={})
    for labeller, labels in state.current.items():
        for item_id, event in labels.items():
            item = items.get(item_id)
            if item is None:
                index.unknown[labeller] += 1
            elif not valid_label(event, item):
                index.stale[labeller] += 1
            elif event["verdict"] != "skip":
                per_item.setdefault(item_id, []).append(event)
    for item_id, events in per_item.items():
        votes = Counter(e["chosen"] if e["verdict"] == "prefer" else "tie" for e in events)
        ranked = votes.most_common()
        top = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else "tie"
        index.verdicts[item_id] = HumanVerdict(
            item=item_id,
            verdict=top,
            votes=dict(votes),
            labellers=tuple(sorted(e["labeller"] for e in events)),
            reasons=tuple((e["labeller"], e["reason"]) for e in events if e.get("reason")),
        )
    return index


def agreement_with(choice: str | None, human: str) -> float | None:
    """Agreement of an AI (or file) choice with a human verdict: 1 same response, 0 the other, 1/2 when the AI
    called a tie; None when the human called a tie (a human tie has no side to agree with, as in judge-eval,
    which reads only preference pairs)."""
    if human == "tie":
        return None
    if choice is None:
        return 0.5
    return 1.0 if choice == human else 0.0
