"""The append-only record journal: a finished record is on disk (fsync'd) before it counts as done.

After a crash the last line may be half-written; :meth:`Journal.load` drops it (and truncates it away) instead
of failing, so re-running resumes from the last complete record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError


class Journal:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        self.load()

    def load(self) -> list[dict[str, Any]]:
        self.records = []
        if not self.path.exists():
            return self.records
        data = self.path.read_bytes()
        good_end = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn write at the end: ignore it
            try:
                self.records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good_end += len(line)
        if good_end != len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
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
            with self.path.open("ab") as handle:
                start = handle.tell()
                try:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
                except OSError:
                    handle.truncate(start)
                    raise
        except OSError as exc:
            raise RlaifError(
                f"{self.path}: cannot write records ({exc.strerror or exc}); finished records so far are kept",
                hint="Free disk space or fix permissions, then re-run the same command to resume.",
            ) from exc
        self.records.extend(records)
