"""``rlaif rewards score``: run any installed reward over a JSONL dataset and summarise.

Useful on its own (how often do reference solutions pass? how strict is my format rule?) and as the
smoke test a plugin author runs before wiring a reward into training.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from rlaif.errors import Problem, RlaifError

ID_FIELDS = ("task_id", "id")


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it parses (numbers, booleans, lists), else as text.

    ``key=@file.json`` reads the value from a JSON file (handy for ``json-schema``'s ``schema``).
    """
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise RlaifError(f"--option {text!r}: expected key=value")
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            return key, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RlaifError(f"--option {key}: cannot read JSON from {path}: {exc}") from None
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def read_records(path: Path, completion_field: str, limit: int | None) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs; every malformed line is reported with its number, all at once."""
    if not path.is_file():
        raise RlaifError(f"{path}: no such file")
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(records) >= limit:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(f"not valid JSON: {exc.msg}", file=str(path), where=f"line {number}"))
                continue
            if not isinstance(record, dict):
                problems.append(Problem("expected a JSON object", file=str(path), where=f"line {number}"))
            elif completion_field not in record:
                fields = ", ".join(sorted(record)) or "none"
                problems.append(
                    Problem(
                        f"missing field '{completion_field}' (fields: {fields})",
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
                {"score": s, "status": _status_of(s), "message": ""}
                for s in reward(prompts, completions, **columns)
            ]
        results.extend(details)
        bar.update(len(batch))
    bar.close()
    return results


def _status_of(score: float | None) -> str:
    if score is None:
        return "skipped"
    return "passed" if score >= 1 else "failed" if score <= 0 else "partial"


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    scores = [r["score"] for r in results if r["score"] is not None]
    statuses = Counter(r["status"] for r in results)
    return {
        "n": len(results),
        "mean": sum(scores) / len(scores) if scores else None,
        "pass_rate": statuses.get("passed", 0) / len(results) if results else None,
        "statuses": dict(sorted(statuses.items())),
    }


@click.group()
def rewards() -> None:
    """Verifiable rewards: list-free scoring of datasets with any installed reward."""


@rewards.command("score")
@click.option("--reward", "reward_name", required=True, help="Reward name (see `rlaif plugins`).")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="JSONL dataset.")
@click.option(
    "--completion-field",
    default="completion",
    show_default=True,
    help="Field holding the text to score; every other field is passed as a column.",
)
@click.option(
    "--option",
    "option_texts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Reward option (value parsed as JSON if possible; @file.json reads a file). Repeatable.",
)
@click.option("--output", type=click.Path(path_type=Path), help="Write one JSON line per record here.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON summary object.")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N records.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
def score(
    reward_name: str,
    data_path: Path,
    completion_field: str,
    option_texts: tuple[str, ...],
    output: Path | None,
    as_json: bool,
    limit: int | None,
    batch_size: int,
) -> None:
    """Score the completions in a JSONL dataset and summarise pass rate and statuses.

    \b
    Examples:
      rlaif rewards score --reward code --data humaneval.jsonl --completion-field canonical_solution
      rlaif rewards score --reward math --data gsm8k.jsonl --completion-field solution --json
      rlaif rewards score --reward length --data out.jsonl --option max=200 --option soft=true
    """
    from rlaif.cli import extra_plugin_modules
    from rlaif.plugins import get_registry
    from rlaif.rewards.build import build_reward

    options = dict(parse_option(text) for text in option_texts)
    registry = get_registry(extra_plugin_modules())
    registry.get("rewards", reward_name)  # unknown names fail before the data is read
    records = read_records(data_path, completion_field, limit)
    reward = build_reward(reward_name, options, registry)
    results = score_records(
        reward,
        records,
        completion_field,
        batch_size,
        progress=len(records) > batch_size and sys.stderr.isatty(),
    )
    if output is not None:
        from rlaif.files import write_jsonl

        rows = []
        for (number, record), result in zip(records, results, strict=True):
            row: dict[str, Any] = {"line": number}
            for field in ID_FIELDS:
                if field in record:
                    row[field] = record[field]
                    break
            row.update(score=result["score"], status=result["status"], message=result.get("message", ""))
            rows.append(row)
        write_jsonl(output, rows)  # temp file + rename: an interrupted scoring never leaves half a file
    summary = summarize(results)
    if as_json:
        click.echo(json.dumps(summary))
        return
    mean = "n/a" if summary["mean"] is None else f"{summary['mean']:.4f}"
    click.echo(f"reward {reward_name}: n={summary['n']} mean={mean} pass_rate={summary['pass_rate']:.4f}")
    for status, count in summary["statuses"].items():
        click.echo(f"  {status:>8}: {count}")
    if output is not None:
        click.echo(f"per-record results: {output}")
