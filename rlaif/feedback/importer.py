"""Logged user feedback -> preference pairs, so a team's real usage feeds the next training round.

Input: JSONL, one feedback event per line. ``prompt`` is a string or a chat message list (the conversation
up to the assistant's turn); an optional ``id`` is kept as provenance. Three kinds of event (``type``):

``choice`` -- the user accepted one suggestion and rejected others::

    {"type": "choice", "prompt": "...", "accepted": "reply A", "rejected": ["reply B", "reply C"]}

  one pair per rejected reply (``rejected`` may be a single string).

``edit`` -- the user edited the assistant's response before using it::

    {"type": "edit", "prompt": "...", "original": "model reply", "edited": "what the user kept"}

  one pair: chosen = the edit, rejected = the original (skipped when the edit changed nothing).

``rating`` -- thumbs up / down on one response; alternatives to the same prompt become pairs::

    {"type": "rating", "prompt": "...", "response": "...", "rating": "up" | "down" | 1 | -1}

  every up-rated response x every down-rated response to the same prompt (grouped by exact prompt).

Output: pairs in TRL's conversational preference format (``prompt`` / ``chosen`` / ``rejected`` message
lists) with provenance (``feedback_type``, ``source_lines``, ``id``), ready for ``rlaif train``.
Every bad line is reported at once, with its line number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.files import iter_jsonl

MAX_SHOWN = 50
"""Bad lines listed in an error; a file of a million bad lines should not print a million lines."""
TYPES = ("choice", "edit", "rating")
RATINGS = {"up": 1, "down": -1, 1: 1, -1: -1, "+1": 1, "-1": -1}


def _messages(value: Any) -> list[dict[str, str]] | None:
    if isinstance(value, str) and value.strip():
        return [{"role": "user", "content": value}]
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict)
            and m.get("role") in ("system", "user", "assistant")
            and isinstance(m.get("content"), str)
            for m in value
        )
    ):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    return None


def _text(record: dict[str, Any], key: str, problems: list[str]) -> str | None:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"'{key}' must be a non-empty string")
        return None
    return value


def _pair(prompt, chosen: str, rejected: str, kind: str, lines: list[int], record_id: Any) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "status": "pair",
        "source": "feedback",
        "feedback_type": kind,
        "source_lines": lines,
        "id": record_id,
    }


def feedback_pairs(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Pairs from a feedback JSONL file, plus counts (events per type, pairs, skipped no-op edits)."""
    path = Path(path)
    problems: list[Problem] = []
    pairs: list[dict[str, Any]] = []
    counts = {"events": 0, "pairs": 0, "unchanged_edits": 0, "unpaired_ratings": 0}
    ratings: dict[str, dict[str, Any]] = {}
    for number, record in iter_jsonl(path, "feedback file", problems):
        where = f"line {number}"
        kind = record.get("type")
        if kind not in TYPES:
            problems.append(
                Problem(f"'type' must be one of {', '.join(TYPES)} (got {kind!r})", str(path), where)
            )
            continue
        issues: list[str] = []
        prompt = _messages(record.get("prompt"))
        if prompt is None:
            issues.append("'prompt' must be a non-empty string or a list of chat messages")
        new: list[dict[str, Any]] = []
        if kind == "choice":
            accepted = _text(record, "accepted", issues)
            rejected = record.get("rejected")
            rejected = [rejected] if isinstance(rejected, str) else rejected
            if (
                not isinstance(rejected, list)
                or not rejected
                or not all(isinstance(r, str) and r.strip() for r in rejected)
            ):
                issues.append("'rejected' must be a non-empty string or a list of them")
            elif accepted is not None:
                new = [
                    _pair(prompt, accepted, r, kind, [number], record.get("id"))
                    for r in rejected
                    if r != accepted
                ]
        elif kind == "edit":
            original, edited = _text(record, "original", issues), _text(record, "edited", issues)
            if original is not None and edited is not None:
                if original.strip() == edited.strip():
                    counts["unchanged_edits"] += 1
                else:
                    new = [_pair(prompt, edited, original, kind, [number], record.get("id"))]
        else:
            response = _text(record, "response", issues)
            rating = (
                RATINGS.get(record.get("rating"))
                if not isinstance(record.get("rating"), list | dict)
                else None
            )
            if rating is None:
                issues.append("'rating' must be 'up', 'down', 1 or -1")
            if not issues:
                key = json.dumps(prompt, sort_keys=True)
                group = ratings.setdefault(key, {"prompt": prompt, "up": [], "down": []})
                group["up" if rating > 0 else "down"].append((response, number, record.get("id")))
        if issues:
            problems.extend(Problem(issue, str(path), where) for issue in issues)
            continue
        counts["events"] += 1
        counts[kind] = counts.get(kind, 0) + 1
        pairs.extend(new)
    for group in ratings.values():
        if not group["up"] or not group["down"]:
            counts["unpaired_ratings"] += len(group["up"]) + len(group["down"])
        for good, good_line, good_id in group["up"]:
            for bad, bad_line, _ in group["down"]:
                if good != bad:
                    pairs.append(_pair(group["prompt"], good, bad, "rating", [good_line, bad_line], good_id))
    if problems:
        more = f" (the first {MAX_SHOWN} shown)" if len(problems) > MAX_SHOWN else ""
        raise RlaifError(
            f"{path}: {len(problems)} bad feedback line(s){more}; nothing was written", problems[:MAX_SHOWN]
        )
    counts["pairs"] = len(pairs)
    return pairs, counts
