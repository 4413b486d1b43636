"""Prompt sets: JSONL files, ``datasets`` directories, or a shipped set by name.

Each prompt becomes a :class:`PromptItem` with a stable id (the record's ``id`` field, else a hash of the prompt)
so a resumed run recognises the prompts it already finished, and the other fields travel along as ``columns``
(rewards read them: ``answer``, ``test``, ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.paths import shipped_dir
from rlaif.protocols import Conversation


@dataclass
class PromptItem:
    id: str
    messages: Conversation
    columns: dict[str, Any] = field(default_factory=dict)


def shipped_prompt_sets() -> dict[str, Path]:
    return {path.stem: path for path in sorted((shipped_dir("examples") / "prompts").glob("*.jsonl"))}


def _as_messages(value: Any, where: str) -> Conversation:
    if isinstance(value, str):
        if not value.strip():
            raise RlaifError(f"{where}: the prompt is empty")
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and value:
        for index, message in enumerate(value):
            if (
                not isinstance(message, dict)
                or message.get("role") not in ("system", "user", "assistant")
                or not isinstance(message.get("content"), str)
            ):
                raise RlaifError(
                    f'{where}: message {index} must be {{"role": "system"|"user"|"assistant", "content": str}}'
                )
        if value[-1]["role"] != "user":
            raise RlaifError(f"{where}: the last message must be from the user")
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise RlaifError(f"{where}: a prompt must be a non-empty string or a list of chat messages")


def _stable_id(messages: Conversation) -> str:
    return "p-" + hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:12]


def _records(source: Path) -> list[tuple[str, dict[str, Any]]]:
    from rlaif.files import iter_jsonl, load_dataset_dir

    if source.is_dir():
        dataset = load_dataset_dir(source, "prompts dataset")
        return [(f"{source}: row {index}", dict(row)) for index, row in enumerate(dataset)]
    return [(f"{source}: line {number}", record) for number, record in iter_jsonl(source, "prompts file")]


def resolve_prompts_path(reference: str, base_dir: Path) -> Path:
    candidate = Path(reference).expanduser()
    if not candidate.is_absolute():
        candidate = base_dir / candidate
    if candidate.exists() or "/" in reference or "." in reference:
        if not candidate.exists():
            raise RlaifError(f"{candidate}: prompts file not found")
        return candidate
    sets = shipped_prompt_sets()
    if reference in sets:
        return sets[reference]
    from rlaif.errors import unknown_name_error

    raise unknown_name_error("prompt set", reference, list(sets))


def load_prompt_items(
    source: str | Path,
    base_dir: Path | None = None,
    prompt_field: str = "prompt",
    id_field: str | None = None,
    limit: int | None = None,
) -> list[PromptItem]:
    path = resolve_prompts_path(str(source), base_dir or Path.cwd())
    items: list[PromptItem] = []
    seen: dict[str, int] = {}
    for where, record in _records(path):
        if prompt_field not in record:
            raise RlaifError(
                f"{where}: missing field '{prompt_field}' (fields present: {', '.join(record) or 'none'})"
            )
        messages = _as_messages(record[prompt_field], where)
        key = id_field or ("id" if "id" in record else None)
        raw_id = record.get(key) if key else None
        item_id = str(raw_id) if raw_id is not None else _stable_id(messages)
        if item_id in seen:  # duplicates keep their own records: suffix them deterministically
            seen[item_id] += 1
            item_id = f"{item_id}#{seen[item_id]}"
        else:
            seen[item_id] = 1
        columns = {k: v for k, v in record.items() if k != prompt_field}
        items.append(PromptItem(item_id, messages, columns))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise RlaifError(f"{path}: no prompts found")
    return items


def load_prompts(config: Any, limit: int | None = None) -> list[PromptItem]:
    """The prompts a run config names, honouring ``max_prompts``."""
    cap = config.settings.max_prompts
    if limit is not None:
        cap = limit if cap is None else min(cap, limit)
    return load_prompt_items(
        config.settings.prompts, config.base_dir, config.settings.prompt_field, config.settings.id_field, cap
    )
