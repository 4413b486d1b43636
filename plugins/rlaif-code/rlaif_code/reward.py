"""The ``code`` reward: 1 if the completion passes the row's unit tests in the sandbox, else 0."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Any

from rlaif.rewards.base import Outcome, RowReward, skipped
from rlaif_code.programs import build_program
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

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        program = build_program(text, row, self.use_prompt)
        if program is None:
            return skipped("no tests for this row (need test_list, or test [+ entry_point])")
        result = run_python(program, self.limits)
        self.last_isolation = result.isolation
        message = result.message
        if result.missing_isolation:
            message += f" [not applied here: {', '.join(result.missing_isolation)}]"
        score = 1.0 if result.status == "passed" else 0.0
        return Outcome(score, result.status, message)

    def judge_many(self, texts: list[str], rows: list[dict[str, Any]]) -> list[Outcome]:
        if len(texts) <= 1 or self.workers == 1:
            return super().judge_many(texts, rows)
        with ThreadPoolExecutor(max_workers=min(self.workers, len(texts))) as pool:
            return list(pool.map(self._safe_judge, texts, rows))


def make_code(options: dict[str, Any]) -> CodeReward:
    """The completion passes the row's unit tests (HumanEval or MBPP columns), run in a sandbox."""
    return CodeReward(**options)
