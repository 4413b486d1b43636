"""Overrule: the experts' verdicts replace the judge's when pairs are built for training.

:func:`apply_labels` is a pure function: records in (a round's ``records.jsonl``, a ``pairs.jsonl``, or plain TRL
preference records), label events in, new records out; the input is not modified. Per item with a human verdict
(:mod:`rlaif.label.consensus`):

- the experts prefer the response the judge chose: the pair stays, now ``label_source: human``;
- they prefer the other: chosen and rejected are swapped (``chosen_source`` follows);
- they call a tie (or split): the pair is dropped, ``reason: human tie``;
- a record the judge dropped as a tie or low-margin that the experts prefer one side of becomes a pair.

Every pair carries ``label_source`` (``human`` or ``ai``) and, when human, ``labellers`` and a ``human`` block:
the verdict, the votes, whether it overruled the AI, and what the AI had decided. Records with no label keep the
judge's decision (``label_source: ai``). Labels made on a different version of an item are ignored.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rlaif.errors import RlaifError
from rlaif.label.consensus import HumanVerdict, index_labels
from rlaif.label.items import Item, NotAnItem, is_run_record, item_from_pair, item_from_run_record, unique_ids
from rlaif.label.store import replay
from rlaif.records import DropReason

HUMAN_TIE = DropReason.HUMAN_TIE.value


def record_items(records: Sequence[dict[str, Any]]) -> list[Item | None]:
    """The item each record makes (None for records that are not items), with the ids a labelling session on
    the same file gave them."""
    found: list[Item | None] = []
    for number, record in enumerate(records, start=1):
        item: Item | None
        if is_run_record(record):
            item, _ = item_from_run_record(record, f"record {number}")
        else:
            try:
                item = item_from_pair(record, f"record {number}", f"line-{number}")
            except (NotAnItem, RlaifError):  # a record that is not a usable pair is simply not an item
                item = None
        found.append(item)
    renamed = iter(unique_ids(item for item in found if item is not None))
    return [None if item is None else next(renamed) for item in found]


def _message(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _ai_choice(record: dict[str, Any], item: Item) -> str | None:
    """The response the record currently makes ``chosen`` (None for a drop)."""
    if record.get("status", "pair") != "pair":
        return None
    if is_run_record(record):
        return str(record.get("chosen_source"))
    return "chosen"


def _apply(record: dict[str, Any], item: Item, verdict: HumanVerdict) -> dict[str, Any]:
    out = copy.deepcopy(record)
    run = is_run_record(record)
    ai = {key: record[key] for key in ("status", "reason", "chosen_source") if key in record}
    current = _ai_choice(record, item)
    wanted = verdict.prefers
    if wanted is None:  # the experts call it a tie
        overruled = current is not None
        if overruled:
            out["status"] = "drop"
            out["reason"] = HUMAN_TIE
            if run:
                for key in ("chosen", "rejected", "chosen_source"):
                    out.pop(key, None)
    else:
        overruled = wanted != current
        if overruled:
            chosen, rejected = item.response(wanted).text, item.response(item.other(wanted)).text
            out["status"] = "pair"
            out.pop("reason", None)
            if run:
                out["chosen"], out["rejected"] = _message(chosen), _message(rejected)
                out["chosen_source"] = wanted
            else:  # a preference file keeps its own layout: swap the two fields as they are
                out["chosen"], out["rejected"] = record["rejected"], record["chosen"]
    out["label_source"] = "human"
    out["labellers"] = list(verdict.labellers)
    out["human"] = {"verdict": verdict.verdict, "votes": verdict.votes, "overruled": overruled, "ai": ai}
    if verdict.split:
        out["human"]["split"] = True
    return out


def apply_labels(records: Sequence[dict[str, Any]], events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` with the human verdicts in ``events`` applied (see the module docstring). Pure."""
    items = record_items(records)
    index = index_labels(replay(events), {item.id: item for item in items if item is not None})
    out = []
    for record, item in zip(records, items, strict=True):
        verdict = index.verdicts.get(item.id) if item is not None else None
        if verdict is None:
            new = copy.deepcopy(record)
            if new.get("status", "pair") == "pair":
                new["label_source"] = "ai" if is_run_record(record) else new.get("label_source", "file")
            out.append(new)
        else:
            out.append(_apply(record, item, verdict))
    return out


def overrule_counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How the labels changed a set of records: pairs confirmed, flipped, dropped and added by experts."""
    counts: Counter = Counter()
    for record in records:
        human = record.get("human")
        if not isinstance(human, dict):
            continue
        before = human.get("ai", {}).get("status", "pair")
        after = record.get("status", "pair")
        if not human.get("overruled"):
            counts["confirmed"] += 1
        elif before == "pair" and after == "pair":
            counts["flipped"] += 1
        elif before == "pair":
            counts["dropped"] += 1
        else:
            counts["added"] += 1
    return {key: counts[key] for key in ("confirmed", "flipped", "dropped", "added")}
