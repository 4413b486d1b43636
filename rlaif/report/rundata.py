"""Everything a report shows, read from a run directory; any piece may be missing (no training, no eval...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.files import iter_jsonl, load_json_object, load_yaml_mapping

MAX_WARNINGS_PER_FILE = 10


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
    probe: dict[str, Any] | None = None
    """``round-N/probe.json``: the judge robustness probe (round 1, when the run config enables it)."""
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
    labels: dict[str, Any] | None = None
    """Expert labels of this run (``labels.jsonl``): judge-expert agreement, disagreements, labellers (filled in
    by :func:`rlaif.report.write_report`, which knows about labels; this module only reads the run)."""
    judge_agreement: list[dict[str, Any]] = field(default_factory=list)
    """What is known of the judge's agreement with people (:mod:`rlaif.judges.trust` figures): the run's
    judge-eval result from the manifest and its expert labels (filled in by :func:`rlaif.report.write_report`)."""


def read_jsonl_lenient(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    """Records from a JSONL file; a torn or bad line (a crash mid-write) is skipped with a warning.

    A run directory is the report's input, so its files are read like any user file (streamed, lines capped):
    a damaged file is named in a warning and the rest of the report is still written.
    """
    if not path.exists():
        return []
    problems: list[Problem] = []
    try:
        records = [record for _, record in iter_jsonl(path, "records file", problems)]
    except RlaifError as error:
        warnings.append(f"{error.message} (skipped)")
        return []
    for problem in problems[:MAX_WARNINGS_PER_FILE]:
        warnings.append(f"{path.name}: {problem.where}: {problem.message} (skipped)")
    if len(problems) > MAX_WARNINGS_PER_FILE:
        warnings.append(f"{path.name}: {len(problems) - MAX_WARNINGS_PER_FILE} more bad line(s) skipped")
    return records


def _json(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return load_json_object(path, path.name)
    except RlaifError as error:
        warnings.append(f"{path.name}: unreadable ({error.message})")
        return None


def _yaml(path: Path, warnings: list[str]) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return load_yaml_mapping(path, path.name)
    except RlaifError as error:
        warnings.append(f"{path.name}: unreadable ({error.message})")
        return {}


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
        probe_entry = entry.get("probe") if isinstance(entry.get("probe"), dict) else {}
        probe_path = path / probe_entry["path"] if probe_entry.get("path") else folder / "probe.json"
        probe = _json(probe_path, warnings)
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
                probe=probe if isinstance(probe, dict) and isinstance(probe.get("hacks"), list) else None,
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
