"""Preference pairs to learn from or audit against, from every format rlaif reads.

One loader, :func:`load_learning_pairs`, so ``rlaif constitution learn`` and ``audit`` accept what a team has:

- a labels file from ``rlaif label`` (``labels.jsonl``): the experts' preferences, via :mod:`rlaif.label.judging`
  (expert ties and skips are not pairs);
- a feedback log (``type``: ``choice`` / ``edit`` / ``rating`` events), via :mod:`rlaif.feedback.importer`;
- pairs in TRL preference format (explicit or implicit prompt), a run's ``pairs.jsonl`` or ``records.jsonl``
  (drops skipped), ``rlaif feedback import`` output, or the HH-RLHF files, via :mod:`rlaif.judges.data`;
- a ``datasets`` directory of such pairs.

Every error names the file, the line and the field. Each pair gets a content digest: the journal keys model calls
by it, so a re-run (or another file holding the same pair) never pays for a call twice, and the side a pair's
chosen response is shown on is a function of its content, not of its position in a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.files import check_input_file, iter_jsonl
from rlaif.judges.data import PreferencePair, pair_from_record, trim_context

LABEL_EVENT_TYPES = ("label", "undo", "session")
FEEDBACK_TYPES = ("choice", "edit", "rating")


def pair_digest(pair: PreferencePair) -> str:
    """A short content hash of prompt, chosen and rejected (the pair's identity in the journal)."""
    payload = json.dumps([pair.prompt, pair.chosen, pair.rejected], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def chosen_shown_first(pair: PreferencePair) -> bool:
    """Balanced presentation: the chosen response is ``a`` for about half the pairs, decided by content."""
    return int(pair_digest(pair)[-1], 16) % 2 == 0


def _first_record(path: Path) -> dict[str, Any] | None:
    """The first JSONL record, or None when the first line is not one (the full read then reports why)."""
    try:
        for _, record in iter_jsonl(path, "preference data"):
            return record
    except RlaifError:
        return None
    return None


def _records(path: Path) -> tuple[Iterable[tuple[str, dict[str, Any]]], str]:
    """``(where, record)`` for each candidate pair record in ``path``, and what kind of file it is."""
    if path.is_dir():
        from rlaif.files import load_dataset_dir

        dataset = load_dataset_dir(path, "pairs dataset")
        return ((f"{path}: row {i + 1}", dict(row)) for i, row in enumerate(dataset)), "dataset"
    check_input_file(path, "preference data")
    first = _first_record(path)
    if first is not None and first.get("type") in LABEL_EVENT_TYPES and "prompt" not in first:
        from rlaif.label.judging import labelled_pairs

        records = labelled_pairs(path)
        return ((f"{path}: labelled pair {i + 1}", r) for i, r in enumerate(records)), "labels"
    if first is not None and first.get("type") in FEEDBACK_TYPES and "chosen" not in first:
        from rlaif.feedback.importer import feedback_pairs

        records, _ = feedback_pairs(path)
        return ((f"{path}: feedback pair {i + 1}", r) for i, r in enumerate(records)), "feedback"
    return ((f"{path}: line {n}", r) for n, r in iter_jsonl(path, "preference data")), "pairs"


def load_learning_pairs(
    paths: str | Path | Sequence[str | Path],
    limit: int | None = None,
    context_turns: int | None = None,
) -> list[PreferencePair]:
    """Every preference pair in ``paths`` (in file order, files in the order given), at most ``limit``.

    Exact duplicates (same prompt, chosen and rejected) are kept once: they would count twice in an agreement.
    ``context_turns`` keeps only the last N prompt messages (long HH dialogues dominate judging cost).
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    pairs: list[PreferencePair] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        records, kind = _records(path)
        found = 0
        for where, record in records:
            if "status" in record and record.get("status") != "pair":
                continue  # a run's records.jsonl also holds drops
            pair = pair_from_record(record, where, f"{path.name}:{found + 1}")
            if not pair.chosen.strip() or not pair.rejected.strip() or pair.chosen == pair.rejected:
                raise RlaifError(
                    f"{where}: fields 'chosen' and 'rejected' must be two different non-empty replies"
                )
            found += 1
            if context_turns:
                pair = trim_context(pair, context_turns)
            digest = pair_digest(pair)
            if digest in seen:
                continue
            seen.add(digest)
            pairs.append(pair)
            if limit is not None and len(pairs) >= limit:
                return pairs
        if not found:
            raise RlaifError(f"{path}: no preference pairs in this {kind} file")
    return pairs
