"""The run directory: its layout, its lock (one process at a time) and its manifest (written atomically).

Layout::

    manifest.json          config hash, counts, timings, paths of every artifact (relative to the run dir)
    config.yaml            the resolved config (every default filled in, plugin options included)
    constitution.yaml      the constitution as used
    round-1/records.jsonl  the journal: one record per prompt (pair or drop), fsync'd as it is made
    round-1/pairs.jsonl    the pairs, TRL conversational preference format + provenance
    round-1/pairs_dataset/ the same pairs as a `datasets` dataset (load_from_disk)
    round-1/checkpoint/    the trained policy (safetensors; AutoModelForCausalLM.from_pretrained)
    round-1/metrics.json   training metrics and log history
    round-1/eval.json      the round's evaluation against the starting policy (eval_journal.jsonl while it runs)

Re-running the same config on the same directory resumes: finished prompts, rounds and training are skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rlaif.config import HARMLESS_KEYS, RunConfig
from rlaif.errors import RlaifError
from rlaif.files import atomic_write_json, atomic_write_text, load_json_object, load_yaml_mapping


@dataclass
class RunDirectory:
    """The run's folder, its lock (one process at a time) and its manifest (written atomically)."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    _lock: FileLock | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def round_dir(self, round_index: int) -> Path:
        return self.path / f"round-{round_index}"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def acquire(self) -> None:
        """Take the directory's lock (an OS file lock: it dies with its process, so a killed run never leaves a
        stale lock; the ``.lock.owner`` note it leaves behind is only read while someone holds the lock)."""
        if self.path.exists() and not self.path.is_dir():
            raise RlaifError(
                f"{self.path}: the output directory is a file", hint="Choose another --output-dir."
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RlaifError(
                f"{self.path}: cannot create the output directory ({exc.strerror or exc})"
            ) from None
        owner_file = self.path / ".lock.owner"
        lock = FileLock(str(self.path / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            owner = owner_file.read_text().strip() if owner_file.exists() else "another process"
            raise RlaifError(
                f"{self.path}: this run directory is in use by {owner}",
                hint="Wait for it to finish, or choose another --output-dir.",
            ) from None
        try:
            atomic_write_text(
                owner_file,
                f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n",
            )
        except BaseException:
            lock.release()
            raise
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            (self.path / ".lock.owner").unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def load_manifest(self) -> dict[str, Any]:
        if self.manifest_path.exists():
            try:
                self.manifest = load_json_object(self.manifest_path, "run manifest")
            except RlaifError as error:
                raise RlaifError(
                    f"corrupt manifest: {error.message}", hint="Use --overwrite to start over."
                ) from None
        return self.manifest

    def save_manifest(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        atomic_write_json(self.manifest_path, self.manifest)

    def round_entry(self, round_index: int) -> dict[str, Any]:
        rounds = self.manifest.setdefault("rounds", [])
        while len(rounds) < round_index:
            rounds.append({"round": len(rounds) + 1})
        return rounds[round_index - 1]

    def relative(self, path: Path) -> str:
        return os.path.relpath(path, self.path)


def prepare_run_directory(config: RunConfig, overwrite: bool = False) -> RunDirectory:
    """Lock the run directory and check that resuming in it is safe (same result-affecting config)."""
    run_dir = RunDirectory(config.output_dir)
    run_dir.acquire()
    try:
        manifest = run_dir.load_manifest() if not overwrite else {}
        if overwrite:
            for child in run_dir.path.iterdir():
                if child.name not in (".lock", ".lock.owner"):
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            run_dir.manifest = {}
        elif manifest and manifest.get("config_hash") != config.result_hash():
            raise RlaifError(
                f"{run_dir.path}: holds a run made with a different config "
                f"({_config_changes(run_dir.path / 'config.yaml', config)}); resuming would mix results.",
                hint="Re-run with --overwrite to replace it, --new to start a fresh run in a new sibling "
                "directory, or --output-dir to choose one.",
            )
    except BaseException:
        run_dir.release()
        raise
    return run_dir


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _config_changes(saved_path: Path, config: RunConfig, limit: int = 5) -> str:
    """``seed: 0 -> 9, models.policy: ...``: which result-affecting settings differ from the saved run's."""
    try:
        saved = load_yaml_mapping(saved_path, "saved config")
    except RlaifError:
        saved = None
    if not isinstance(saved, dict):
        return "its config.yaml is missing, so the settings cannot be compared"
    old = {k: v for k, v in _flatten(saved).items() if k.split(".")[0] not in HARMLESS_KEYS}
    new = {k: v for k, v in _flatten(config.raw).items() if k.split(".")[0] not in HARMLESS_KEYS}
    changes = [
        f"{key}: {old.get(key, '(unset)')!r} -> {new.get(key, '(unset)')!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key, "(unset)") != new.get(key, "(unset)")
    ]
    if not changes:
        return "changed settings could not be pinpointed"
    more = f", and {len(changes) - limit} more" if len(changes) > limit else ""
    return "changed: " + ", ".join(changes[:limit]) + more


def fresh_output_dir(path: str | Path) -> Path:
    """``runs/default`` if unused, else the first free sibling ``runs/default-2``, ``-3``, ... (``--new``)."""
    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return path
    number = 2
    while (candidate := path.with_name(f"{path.name}-{number}")).exists():
        number += 1
    return candidate


def save_dataset_atomically(dataset: Any, directory: Path) -> None:
    """``save_to_disk`` into a temp sibling, then swap it in: a crash never leaves a half-saved dataset."""
    import tempfile

    temp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        dataset.save_to_disk(str(temp))
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
            temp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            temp.rename(directory)
    except OSError as exc:
        raise RlaifError(f"{directory}: cannot save the pairs dataset ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
