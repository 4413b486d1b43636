"""A labelling session: a target's items, its labels file, and the labels replayed -- kept in step with the file.

Also where a labels file and its target find each other: a server records the target (relative to the labels
file) in a ``session`` event, so ``--labels runs/x/labels.jsonl`` alone is enough for stats, export, judge-eval.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.label.consensus import LabelIndex, index_labels
from rlaif.label.items import ItemSet, default_labels_path, load_items, run_directory_of
from rlaif.label.store import FORMAT, LabelState, LabelStore, now


@dataclass
class LabelSession:
    items: ItemSet
    store: LabelStore
    state: LabelState = field(default_factory=LabelState)
    _applied: int = 0

    @property
    def labels_path(self) -> Path:
        return self.store.path

    def sync(self) -> LabelState:
        """Apply every event appended since the last call (by this process or another one)."""
        self.store.refresh()
        for event in self.store.events[self._applied :]:
            self.state.apply(event)
        self._applied = len(self.store.events)
        return self.state

    def index(self) -> LabelIndex:
        return index_labels(self.sync(), self.items.by_id)

    def record_session(self, **settings: Any) -> None:
        """Note in the labels file that a server started on it, and on which target."""
        from rlaif import __version__

        self.store.append(
            [
                {
                    "v": FORMAT,
                    "type": "session",
                    "target": relative_target(self.items.target, self.labels_path),
                    "rlaif": __version__,
                    "at": now(),
                    **settings,
                }
            ]
        )


def relative_target(target: Path, labels: Path) -> str:
    return Path(os.path.relpath(target.resolve(), labels.resolve().parent)).as_posix()


def open_session(
    target: str | Path,
    labels: str | Path | None = None,
    question: str | None = None,
    require_labels: bool = False,
) -> LabelSession:
    """TARGET's items with the labels file's events. ``require_labels`` (stats, export): the labels file must
    exist and hold at least one label event; otherwise (serving, importing) a missing one is created."""
    items = load_items(target, question=question)
    path = Path(labels) if labels is not None else default_labels_path(target)
    if path.exists() or path.is_symlink() or require_labels:
        from rlaif.files import check_input_file

        check_input_file(path, "labels file")
    store = LabelStore(path)
    if not store.events and store.warnings:  # content, but not one label event: never append to such a file
        raise RlaifError(f"{path}: not a labels file: no label event in it ({store.warnings[0]})")
    if require_labels and not store.events:
        raise RlaifError(f"{path}: no labels in it yet (label with `rlaif label {target}`)")
    session = LabelSession(items, store)
    session.sync()
    return session


def _first_event(path: Path) -> dict[str, Any] | None:
    """The first event if ``path`` looks like a labels file (read at most 1 MiB: targets can be huge)."""
    try:
        with path.open("rb") as handle:
            while raw := handle.readline(1024 * 1024):
                if not raw.endswith(b"\n") and len(raw) >= 1024 * 1024:
                    return None  # a first line this long is no label event
                if raw.strip():
                    event = json.loads(raw.decode("utf-8"))
                    return (
                        event
                        if isinstance(event, dict) and event.get("type") in ("label", "undo", "session")
                        else None
                    )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return None


def resolve_labels(labels_or_target: str | Path, target: str | Path | None = None) -> tuple[Path, Path]:
    """``(labels file, target)`` from a labels file (its target read from the file or given) or from a TARGET
    (its default labels file)."""
    path = Path(labels_or_target)
    if not path.exists():
        raise RlaifError(f"{path}: not found (expected a labels.jsonl, or the TARGET that was labelled)")
    if path.is_file() and _first_event(path) is not None:
        if target is not None:
            return path, Path(target)
        store = LabelStore(path)
        sessions = [
            e for e in store.events if e.get("type") == "session" and isinstance(e.get("target"), str)
        ]
        if sessions:
            return path, (path.parent / sessions[-1]["target"])
        run = run_directory_of(path.parent)
        if run is not None:  # labels kept in a run directory label that run
            return path, run
        raise RlaifError(
            f"{path}: the labels file does not say which target it labels",
            hint="Name the target: `rlaif label stats TARGET --labels FILE` (likewise for export and import).",
        )
    labels = default_labels_path(path)
    if not labels.is_file():
        raise RlaifError(f"{path}: no labels yet ({labels} does not exist); label with `rlaif label {path}`")
    return labels, Path(target) if target is not None else path
