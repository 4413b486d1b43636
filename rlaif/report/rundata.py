"""Everything a report shows, read from a run directory; any piece may be missing (no training, no eval...)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlaif.errors import RlaifError


@dataclass
class StageData:
    """One training stage of a multi-stage round (``round-N/stage-K-<name>/``)."""

    index: int
    name: str
    entry: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RoundData:
    index: int
    entry: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    eval_summary: dict[str, Any] | None = None
    eval_records: list[dict[str, Any]] = field(default_factory=list)
    stages: list[StageData] = field(default_factory=list)
    """Training stages in order when the round trained several (metrics/log_history are then the last one's)."""

    @property
    def pairs(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "pair"]


@dataclass
class RunData:
    path: Path
    manifest: dict[str, Any]
    config: dict[str, Any]
    constitution: dict[str, Any]
    rounds: list[RoundData]
    warnings: list[str] = field(default_factory=list)


def read_jsonl_lenient(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    """Records from a JSONL file; a torn or bad line (a crash mid-write) is skipped with a warning."""
    records = []
    if not path.exists():
        return records
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            warnings.append(f"{path.name}: line {number} is not valid JSON and was skipped")
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _json(path: Path, warnings: list[str]) -> Any:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        warnings.append(f"{path.name}: unreadable ({exc.msg})")
        return None


def _yaml(path: Path, warnings: list[str]) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        warnings.append(f"{path.name}: unreadable YAML")
        return {}
    return data if isinstance(data, dict) else {}


def load_run(path: str | Path) -> RunData:
    """Read a run directory written by ``rlaif run`` (manifest first, else round-N folders found on disk)."""
    path = Path(path)
    if not path.is_dir():
        raise RlaifError(f"{path}: not a run directory (it does not exist or is not a folder)")
    warnings: list[str] = []
    manifest = _json(path / "manifest.json", warnings) or {}
    if not manifest and not any(path.glob("round-*")):
        raise RlaifError(f"{path}: not a run directory (no manifest.json and no round-N folders)")
    entries = {int(e["round"]): e for e in manifest.get("rounds", []) if "round" in e}
    for folder in path.glob("round-*"):
        suffix = folder.name.removeprefix("round-")
        if suffix.isdigit():
            entries.setdefault(int(suffix), {"round": int(suffix)})
    rounds = []
    for index in sorted(entries):
        entry = entries[index]
        folder = path / f"round-{index}"

        def at(key: str, default: str, entry: dict[str, Any] = entry, folder: Path = folder) -> Path:
            return path / entry[key] if entry.get(key) else folder / default

        metrics = _json(at("metrics", "metrics.json"), warnings) or {}
        stages = []
        for number, stage in enumerate(entry.get("stages") or [], start=1):
            saved = _json(path / stage["metrics"], warnings) or {} if stage.get("metrics") else {}
            stages.append(
                StageData(
                    index=int(stage.get("stage", number)),
                    name=str(stage.get("name", "?")),
                    entry=stage,
                    metrics=dict(saved.get("metrics") or {}),
                    log_history=list(saved.get("log_history") or []),
                )
            )
        rounds.append(
            RoundData(
                index=index,
                entry=entry,
                records=read_jsonl_lenient(at("records", "records.jsonl"), warnings),
                log_history=list(metrics.get("log_history") or []),
                metrics=dict(metrics.get("metrics") or {}),
                eval_summary=_json(at("eval", "eval.json"), warnings),
                eval_records=read_jsonl_lenient(at("eval_records", "eval_records.jsonl"), warnings),
                stages=stages,
            )
        )
    return RunData(
        path=path,
        manifest=manifest,
        config=_yaml(path / "config.yaml", warnings),
        constitution=_yaml(path / "constitution.yaml", warnings),
        rounds=rounds,
        warnings=warnings,
    )
