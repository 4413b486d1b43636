"""The ``code`` reward: 1 if the completion passes the row's unit tests in the sandbox, else 0."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Any

from rlaif.rewards.base import Outcome, RowReward, skipped
from rlaif_code.programs import build_test_program
from rlaif_code.sandbox import Limits, run_python

_LIMIT_FIELDS = {f.name for f in fields(Limits)}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 10,
            "description": "wall seconds per program",
        },
        "cpu_seconds": {"type": "integer", "minimum": 1, "default": 10},
        "memory_mb": {
            "type": "integer",
            "minimum": 64,
            "default": 1024,
            "description": "address-space limit",
        },
        "file_size_mb": {"type": "integer", "minimum": 1, "default": 16},
        "open_files": {"type": "integer", "minimum": 16, "default": 64},
        "processes": {"type": "integer", "minimum": 1, "default": 32},
        "tmpfs_mb": {
            "type": "integer",
            "minimum": 1,
            "default": 64,
            "description": "private /tmp size (root)",
        },
        "workers": {"type": "integer", "minimum": 1, "description": "parallel programs (default: cpu count)"},
        "use_prompt": {
            "type": "boolean",
            "default": True,
            "description": "HumanEval style: prepend a plain-string prompt (the function header) to the completion",
        },
    },
    "additionalProperties": False,
}


class CodeReward(RowReward):
    """Runs ``prompt + completion + tests`` (HumanEval) or ``imports + completion + asserts`` (MBPP).

    ``passed`` means the program ran to completion with every test passing (proven by a per-run nonce),
    ``failed`` covers wrong answers, crashes, early exits and forbidden operations, ``timeout`` the wall-clock
    deadline; rows without tests are ``skipped`` (score None). Messages mention any isolation measure that
    this host could not apply.

    A completion that games the tests instead of solving them (an object whose ``__eq__`` always answers
    True, reading the caller's frame, patching ``builtins.len``...) fails with a message starting
    ``hack: `` -- see ``_harness.py``. :meth:`details` adds a ``hack`` field (the guard that fired, or
    None) to each record, and :attr:`hack_counts` tallies them over the reward's lifetime, so a training
    run can log how often its policy tries.
    """

    name = "code"

    def __init__(self, workers: int | None = None, use_prompt: bool = True, **limits: Any):
        unknown = set(limits) - _LIMIT_FIELDS
        if unknown:
            raise TypeError(f"unknown options: {sorted(unknown)}")
        self.limits = Limits(**limits)
        self.workers = workers or os.cpu_count() or 1
        self.use_prompt = use_prompt
        self.last_isolation: dict[str, Any] = {}
        self.hack_counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        program = build_test_program(text, row, self.use_prompt)
        if program is None:
            return skipped("no tests for this row (need test_list, or test [+ entry_point])")
        result = run_python(program, self.limits)
        self.last_isolation = result.isolation
        message = result.message
        if result.missing_isolation:
            message += f" [not applied here: {', '.join(result.missing_isolation)}]"
        if result.hack is not None:
            with self._lock:
                self.hack_counts[hack_kind(result.hack)] += 1
        score = 1.0 if result.status == "passed" else 0.0
        return Outcome(score, result.status, message)

    def details(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any], **columns: Any
    ) -> list[dict]:
        """``{"score", "status", "message", "hack"}`` per completion; ``hack`` is the guard that fired
        (e.g. ``"frame access (sys._getframe)"``), or None for an honest pass or failure."""
        records = super().details(prompts, completions, **columns)
        for record in records:
            record["hack"] = hack_of(record.get("message", ""))
        return records


def hack_of(message: str) -> str | None:
    """The guard named in a code-reward message, or None: ``hack: <reason>`` or a forbidden operation."""
    if message.startswith("hack: "):
        return message[len("hack: ") :].split(" [not applied here:")[0]
    if message.startswith("forbidden operation: "):
        return message.split(" [not applied here:")[0]
    return None


def hack_kind(reason: str) -> str:
    """A reason without its particulars, for counting: "frame access", "non-plain value", "patched"..."""
    for kind in ("frame access", "non-plain value", "patched", "forbidden operation"):
        if reason.startswith(kind):
            return kind
    return reason.split(" (")[0]

    def judge_many(self, texts: list[str], rows: list[dict[str, Any]]) -> list[Outcome]:
        if len(texts) <= 1 or self.workers == 1:
            return super().judge_many(texts, rows)
        with ThreadPoolExecutor(max_workers=min(self.workers, len(texts))) as pool:
            return list(pool.map(self._safe_judge, texts, rows))


def make_code(options: dict[str, Any]) -> CodeReward:
    """The completion passes the row's unit tests (HumanEval or MBPP columns), run in a sandbox."""
    return CodeReward(**options)
