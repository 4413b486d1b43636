"""Human (or AI) preference pairs from JSONL, in the formats people actually have.

Accepted per line:

- TRL explicit prompt: ``prompt`` (string or message list) + ``chosen`` / ``rejected`` (strings or message
  lists with the assistant reply) -- this is also what ``rlaif run`` writes to ``pairs.jsonl``;
- TRL implicit prompt: ``chosen`` / ``rejected`` are whole conversations; the shared leading turns are the prompt;
- the project's HH-RLHF files (``tests/data/hh_helpful_base.sample.jsonl``; full sets in ``../shared/data``):
  ``prompt`` messages + ``chosen`` / ``rejected`` strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.files import iter_jsonl
from rlaif.protocols import Conversation


@dataclass(frozen=True)
class PreferencePair:
    id: str
    prompt: Conversation
    chosen: str
    rejected: str


def _messages(value: Any, where: str) -> Conversation:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return [{"role": str(m.get("role", "user")), "content": str(m["content"])} for m in value]
    raise RlaifError(f"{where}: expected a string or a list of {{role, content}} messages")


def _reply(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        return "".join(str(m["content"]) for m in value if m.get("role", "assistant") == "assistant")
    raise RlaifError(f"{where}: expected a string or a list of assistant messages")


def pair_from_record(record: dict[str, Any], where: str, default_id: str) -> PreferencePair:
    missing = [key for key in ("chosen", "rejected") if key not in record]
    if missing:
        raise RlaifError(
            f"{where}: missing field '{missing[0]}' (need chosen and rejected, and usually prompt)"
        )
    chosen, rejected = record["chosen"], record["rejected"]
    if "prompt" in record:
        prompt = _messages(record["prompt"], f"{where}: field 'prompt'")
        chosen_text = _reply(chosen, f"{where}: field 'chosen'")
        rejected_text = _reply(rejected, f"{where}: field 'rejected'")
    else:  # implicit prompt: whole conversations sharing their leading turns
        full_chosen = _messages(chosen, f"{where}: field 'chosen'")
        full_rejected = _messages(rejected, f"{where}: field 'rejected'")
        shared = 0
        while (
            shared < min(len(full_chosen), len(full_rejected)) - 1
            and full_chosen[shared] == full_rejected[shared]
        ):
            shared += 1
        prompt = full_chosen[:shared]
        chosen_text = _reply(full_chosen[shared:], f"{where}: field 'chosen'")
        rejected_text = _reply(full_rejected[shared:], f"{where}: field 'rejected'")
        if not prompt:
            raise RlaifError(f"{where}: no prompt field, and chosen/rejected share no leading turns")
    return PreferencePair(str(record.get("id", default_id)), prompt, chosen_text, rejected_text)


def load_preference_pairs(
    path: str | Path, limit: int | None = None, offset: int = 0
) -> list[PreferencePair]:
    """Pairs from a JSONL file; ``offset``/``limit`` select a slice of the usable records (in file order)."""
    pairs: list[PreferencePair] = []
    seen = 0
    for number, record in iter_jsonl(path, "preference data"):
        pair = pair_from_record(record, f"{path}: line {number}", f"line-{number}")
        seen += 1
        if seen <= offset:
            continue
        pairs.append(pair)
        if limit is not None and len(pairs) >= limit:
            break
    if not pairs:
        raise RlaifError(f"{path}: no preference pairs (after offset {offset})")
    return pairs


def trim_context(pair: PreferencePair, turns: int) -> PreferencePair:
    """Keep only the last ``turns`` prompt messages (long multi-turn contexts dominate judging cost)."""
    return PreferencePair(pair.id, pair.prompt[-turns:], pair.chosen, pair.rejected)
