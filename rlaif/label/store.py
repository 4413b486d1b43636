"""``labels.jsonl``: every label an expert gives, appended as one event per line and never rewritten.

Three kinds of event (``type``):

- ``label``: ``item``, ``digest`` (of what was shown), ``labeller``, ``verdict`` (``prefer`` / ``tie`` / ``skip``),
  ``chosen`` / ``rejected`` (response ids, for ``prefer``), ``left`` / ``right`` (response ids as shown),
  ``reason``, ``seconds`` (spent on the item), ``shown_at`` / ``at`` (UTC timestamps), ``id`` (unique);
- ``undo``: ``undoes`` (the id of a label event of the same labeller) -- an undo is a new line, not an edit;
- ``session``: a server started on this file (``target`` relative to the labels file, settings, version).

Durability: :meth:`LabelStore.append` returns only after the bytes are written *and* fsync'd, under an exclusive
``flock`` and with ``O_APPEND``, so two servers (or two labellers) never interleave or tear each other's lines,
and a server killed with ``kill -9`` has lost nothing it acknowledged. A line torn by a crash mid-write is
skipped with a warning when read, and the next append starts on a fresh line.

:func:`replay` turns the events into each labeller's current labels (:class:`LabelState`).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.files import cut_back, write_all

try:  # POSIX: serialise appends across processes; elsewhere O_APPEND single writes still never interleave
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FORMAT = 1
VERDICTS = ("prefer", "tie", "skip")
MAX_REASON_CHARS = 2000
MAX_LABELLER_CHARS = 64


def now() -> str:
    """UTC, ISO 8601 with milliseconds: sortable and unambiguous across labellers' time zones."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clean_text(value: Any, limit: int) -> str:
    """Untrusted free text (a reason, a name): a string, control characters other than newline/tab removed,
    at most ``limit`` characters."""
    text = "" if value is None else str(value)
    text = "".join(ch for ch in text if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127))
    return text[:limit]


def check_labeller(name: Any) -> str:
    """A labeller name: 1-64 printable characters on one line (it is shown on pages and written in files)."""
    text = str(name or "").strip()
    if not text or len(text) > MAX_LABELLER_CHARS or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise RlaifError(
            f"labeller name {text[:80]!r}: expected 1-{MAX_LABELLER_CHARS} printable characters on one line"
        )
    return text


def label_event(
    item: str,
    digest: str,
    labeller: str,
    verdict: str,
    left: str,
    right: str,
    chosen: str | None = None,
    reason: str = "",
    seconds: float | None = None,
    shown_at: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A new ``label`` event (validated): ``chosen`` is required for ``prefer`` and must be ``left`` or ``right``."""
    if verdict not in VERDICTS:
        raise RlaifError(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
    if verdict == "prefer" and chosen not in (left, right):
        raise RlaifError(
            f"a 'prefer' label names the chosen response ({left!r} or {right!r}), not {chosen!r}"
        )
    event: dict[str, Any] = {
        "v": FORMAT,
        "type": "label",
        "id": uuid.uuid4().hex,
        "item": item,
        "digest": digest,
        "labeller": check_labeller(labeller),
        "verdict": verdict,
        "left": left,
        "right": right,
    }
    if verdict == "prefer":
        event["chosen"] = chosen
        event["rejected"] = right if chosen == left else left
    event["reason"] = clean_text(reason, MAX_REASON_CHARS)
    if seconds is not None:
        event["seconds"] = round(min(max(float(seconds), 0.0), 86_400.0), 3)
    if shown_at:
        event["shown_at"] = shown_at
    event["at"] = now()
    event.update(extra)
    return event


def undo_event(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "type": "undo",
        "id": uuid.uuid4().hex,
        "undoes": target["id"],
        "item": target.get("item"),
        "labeller": target.get("labeller"),
        "at": now(),
    }


MAX_EVENT_BYTES = 1024 * 1024
"""A label event is a few hundred bytes (reasons are capped): a longer line is not one, and is skipped unread."""


class LabelStore:
    """The labels file: durable appends, and incremental reads of whatever any process has appended since."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.events: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self._offset = 0
        self._line = 0
        self._lock = threading.Lock()
        if self.path.exists() and not self.path.is_file():
            raise RlaifError(f"{self.path}: the labels file is a directory")
        self.refresh()

    def refresh(self) -> list[dict[str, Any]]:
        """Read complete lines appended since the last read (by this or another process); returns the new events."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> list[dict[str, Any]]:
        new: list[dict[str, Any]] = []
        try:
            if self.path.stat().st_size < self._offset:
                raise RlaifError(
                    f"{self.path}: the labels file shrank while in use (edited, truncated or replaced); "
                    "labels are append-only",
                    hint="Restore the file, or restart to read it as it is now.",
                )
            with self.path.open("rb") as handle:  # streamed, one capped line at a time
                handle.seek(self._offset)
                while raw := handle.readline(MAX_EVENT_BYTES + 1):
                    if not raw.endswith(b"\n"):
                        if len(raw) <= MAX_EVENT_BYTES:
                            break  # a line still being written (or torn by a crash) waits
                        consumed = len(raw)  # far too long for an event, even one still being written
                        while (rest := handle.readline(1024 * 1024)) and not rest.endswith(b"\n"):
                            consumed += len(rest)
                        self._offset += consumed + len(rest)
                        self._line += 1
                        self.warnings.append(
                            f"{self.path.name}: line {self._line} is longer than {MAX_EVENT_BYTES:,} bytes; skipped"
                        )
                        continue
                    self._offset += len(raw)
                    self._line += 1
                    event = self._parse(raw)
                    if event is not None:
                        new.append(event)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RlaifError(f"{self.path}: cannot read labels ({exc.strerror or exc})") from None
        self.events.extend(new)
        return new

    def _parse(self, raw: bytes) -> dict[str, Any] | None:
        if not raw.strip():
            return None
        try:
            event = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.warnings.append(
                f"{self.path.name}: line {self._line} is not a whole event (torn write?); skipped"
            )
            return None
        if not isinstance(event, dict) or event.get("type") not in ("label", "undo", "session"):
            self.warnings.append(f"{self.path.name}: line {self._line} is not a label event; skipped")
            return None
        return event

    def append(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write ``events`` durably (fsync'd) as whole lines; only then return them. Raises RlaifError if the disk
        refuses, leaving the file as it was."""
        if not events:
            return []
        payload = b"".join(json.dumps(e, ensure_ascii=False).encode("utf-8") + b"\n" for e in events)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                created = not self.path.exists()
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    if fcntl is not None:
                        fcntl.flock(fd, fcntl.LOCK_EX)
                    start = os.fstat(fd).st_size
                    if start and os.pread(fd, 1, start - 1) != b"\n":
                        payload = b"\n" + payload  # a torn line from a crash: start ours on a fresh line
                    try:
                        write_all(fd, payload)
                        os.fsync(fd)
                    except BaseException:
                        cut_back(fd, start)
                        raise
                finally:
                    os.close(fd)  # closing releases the flock
                if created:
                    _fsync_directory(self.path.parent)
            except OSError as exc:
                raise RlaifError(
                    f"{self.path}: cannot save the label ({exc.strerror or exc}); labels saved before are kept",
                    hint="Free disk space or fix permissions; the page will retry when you label again.",
                ) from None
            self._refresh()
        return list(events)


def _fsync_directory(path: Path) -> None:
    """A new file's name is durable only once its directory is fsync'd."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_events(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """All events of a labels file and any warnings (torn or foreign lines).

    A missing file, or one with content but not a single label event (not a labels file at all), is an error.
    """
    from rlaif.files import check_input_file

    path = check_input_file(Path(path), "labels file")
    store = LabelStore(path)
    if not store.events and path.stat().st_size > 0:
        first = store.warnings[0] if store.warnings else "no complete line"
        raise RlaifError(f"{path}: not a labels file: no label event in it ({first})")
    return store.events, store.warnings


@dataclass
class LabelState:
    """Each labeller's current labels after replaying every event in order (undos applied)."""

    current: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """labeller -> item id -> the label event in force (verdict prefer, tie or skip)."""
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """labeller -> label events in force, oldest first: ``u`` undoes the last one."""
    sessions: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _by_id: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _undone: set[str] = field(default_factory=set, repr=False)

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session":
            self.sessions.append(event)
        elif kind == "label":
            problem = _label_problem(event)
            if problem:
                self.warnings.append(f"label event {str(event.get('id'))[:12]}: {problem}; ignored")
                return
            labeller = event["labeller"]
            self._by_id[event["id"]] = event
            self.history.setdefault(labeller, []).append(event)
            self.current.setdefault(labeller, {})[event["item"]] = event
        elif kind == "undo":
            target = self._by_id.get(str(event.get("undoes")))
            if target is None or target["id"] in self._undone or target["labeller"] != event.get("labeller"):
                self.warnings.append(
                    f"undo of unknown or already undone label {str(event.get('undoes'))[:12]}"
                )
                return
            self._undone.add(target["id"])
            labeller, item = target["labeller"], target["item"]
            stack = self.history[labeller]
            stack.remove(target)
            previous = next((e for e in reversed(stack) if e["item"] == item), None)
            if previous is None:
                self.current[labeller].pop(item, None)
            else:
                self.current[labeller][item] = previous

    def last(self, labeller: str) -> dict[str, Any] | None:
        """The labeller's most recent label in force (what ``u`` undoes)."""
        stack = self.history.get(labeller) or []
        return stack[-1] if stack else None

    def labellers(self) -> list[str]:
        return sorted(name for name, labels in self.current.items() if labels)

    def labels_for(self, item_id: str) -> dict[str, dict[str, Any]]:
        """labeller -> label in force for one item."""
        return {name: labels[item_id] for name, labels in self.current.items() if item_id in labels}


def _label_problem(event: dict[str, Any]) -> str | None:
    for key in ("id", "item", "labeller", "verdict"):
        if not isinstance(event.get(key), str) or not event[key]:
            return f"field '{key}' missing"
    if event["verdict"] not in VERDICTS:
        return f"unknown verdict {event['verdict']!r}"
    if event["verdict"] == "prefer" and not (isinstance(event.get("chosen"), str) and event.get("rejected")):
        return "a 'prefer' label without chosen/rejected"
    return None


def replay(events: Iterable[dict[str, Any]]) -> LabelState:
    state = LabelState()
    for event in events:
        state.apply(event)
    return state
