"""Scoring a JSONL dataset with a reward: read the records, score them in batches, summarise.

The library behind ``rlaif rewards score`` (and any script that wants the same figures).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.rewards.base import status_of

ID_FIELDS = ("task_id", "id")


def read_records(path: Path, completion_field: str, limit: int | None) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs; every malformed line is reported with its number, all at once."""
    from rlaif.files import iter_jsonl
    from rlaif.records import is_message_list

    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    for number, record in iter_jsonl(path, "dataset", problems):
        if limit is not None and len(records) >= limit:
            break
        if completion_field not in record:
            fields = ", ".join(sorted(record)) or "none"
            problems.append(
                Problem(
                    f"missing field '{completion_field}' (fields: {fields})",
                    file=str(path),
                    where=f"line {number}",
                )
            )
        elif not isinstance(record[completion_field], str) and not is_message_list(record[completion_field]):
            problems.append(
                Problem(
                    f"'{completion_field}' must be text or a list of {{role, content}} messages, "
                    f"got {type(record[completion_field]).__name__}",
                    file=str(path),
                    where=f"line {number}",
                )
            )
        else:
            records.append((number, record))
    if problems:
        shown = problems[:20]
        more = f" (showing 20 of {len(problems)})" if len(problems) > 20 else ""
        raise RlaifError(
            f"{path}: {len(problems)} bad record(s){more}",
            shown,
            hint="Pick the completion column with --completion-field."
            if any("missing field" in p.message for p in shown)
            else None,
        )
    if not records:
        raise RlaifError(f"{path}: no records")
    return records


def score_records(
    reward: Any,
    records: list[tuple[int, dict[str, Any]]],
    completion_field: str,
    batch_size: int,
    progress: bool,
) -> list[dict[str, Any]]:
    """Score in batches (so parallel rewards get work to share) with a progress bar on stderr."""
    from tqdm import tqdm

    results: list[dict[str, Any]] = []
    bar = tqdm(total=len(records), desc="scoring", unit="rec", file=sys.stderr, disable=not progress)
    for start in range(0, len(records), batch_size):
        batch = [record for _, record in records[start : start + batch_size]]
        completions = [record[completion_field] for record in batch]
        prompts = [record.get("prompt") for record in batch]
        names = sorted({key for record in batch for key in record} - {completion_field, "prompt"})
        columns = {key: [record.get(key) for record in batch] for key in names}
        if hasattr(reward, "details"):
            details = reward.details(prompts, completions, **columns)
        else:
            details = [
                {"score": s, "status": status_of(s), "message": ""}
                for s in reward(prompts, completions, **columns)
            ]
        results.extend(details)
        bar.update(len(batch))
    bar.close()
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """n, mean score, pass rate, statuses, and (for rewards that recognise them) the hack attempts caught."""
    scores = [r["score"] for r in results if r["score"] is not None]
    statuses = Counter(r["status"] for r in results)
    hacks = Counter(str(r["hack"]) for r in results if r.get("hack"))
    summary = {
        "n": len(results),
        "mean": sum(scores) / len(scores) if scores else None,
        "pass_rate": statuses.get("passed", 0) / len(results) if results else None,
        "statuses": dict(sorted(statuses.items())),
    }
    if hacks:
        summary["hacks"] = dict(sorted(hacks.items()))
    return summary
