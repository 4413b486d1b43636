"""The append-only record journal: a finished record is on disk (fsync'd) before it counts as done.

After a crash the last line may be half-written; :meth:`Journal.load` drops it (and truncates it away) instead
of failing, so re-running resumes from the last complete record. A write that fails or is interrupted part-way
(full disk, Ctrl-C, SIGTERM) is cut back off the file before the error propagates, so the journal on disk is
always a sequence of whole records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.files import cut_back, write_all


class Journal:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        self.load()

    def load(self) -> list[dict[str, Any]]:
        self.records = []
        if not self.path.exists():
            return self.records
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise RlaifError(f"{self.path}: cannot read the journal ({exc.strerror or exc})") from None
        good_end = 0
        lines = data.splitlines(keepends=True)
        for number, line in enumerate(lines, start=1):
            record = _parse(line)
            if record is None:
                if number < len(lines):  # damage before the last line is not a torn append: never guess
                    raise RlaifError(
                        f"{self.path}: line {number}: not a complete journal record; the file was edited or "
                        "damaged",
                        hint="Fix or delete that line, or use --overwrite / --new to start a fresh run.",
                    )
                break  # torn write at the end: ignore it
            self.records.append(record)
            good_end += len(line)
        if good_end != len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
                os.fsync(handle.fileno())
        return self.records

    @property
    def done_ids(self) -> set[str]:
        return {record["id"] for record in self.records}

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append and fsync; raises a clear error if the disk refuses (the journal stays valid)."""
        if not records:
            return
        payload = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                start = os.fstat(fd).st_size
                durable = False
                try:
                    write_all(fd, payload)
                    os.fsync(fd)
                    durable = True
                except BaseException:  # OSError, but also Ctrl-C / SIGTERM landing mid-write
                    if not durable:
                        cut_back(fd, start)
                    raise
            finally:
                os.close(fd)
        except OSError as exc:
            raise RlaifError(
                f"{self.path}: cannot write records ({exc.strerror or exc}); finished records so far are kept",
                hint="Free disk space or fix permissions, then re-run the same command to resume.",
            ) from exc
        self.records.extend(records)


def _parse(line: bytes) -> dict[str, Any] | None:
    """A whole journal line as a record, or None for a torn or foreign line."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("id"), str) else None
