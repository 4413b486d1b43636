"""``regex``: the completion must match a pattern (format rules such as "ends with 'Final answer: X'")."""

from __future__ import annotations

import re
from typing import Any

from rlaif.errors import RlaifError
from rlaif.rewards.base import Outcome, RowReward, failed, passed

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "description": "Python regular expression"},
        "mode": {
            "enum": ["search", "fullmatch"],
            "default": "search",
            "description": "search: anywhere in the text; fullmatch: the whole (stripped) text",
        },
        "ignore_case": {"type": "boolean", "default": False},
        "multiline": {"type": "boolean", "default": False, "description": "^ and $ match at line breaks"},
        "dotall": {"type": "boolean", "default": False, "description": ". matches newlines"},
    },
    "required": ["pattern"],
    "additionalProperties": False,
}


class RegexReward(RowReward):
    """1 if the completion matches ``pattern``, else 0."""

    name = "regex"

    def __init__(
        self,
        pattern: str,
        mode: str = "search",
        ignore_case: bool = False,
        multiline: bool = False,
        dotall: bool = False,
    ):
        flags = (re.IGNORECASE if ignore_case else 0) | (re.MULTILINE if multiline else 0)
        flags |= re.DOTALL if dotall else 0
        try:
            self.pattern = re.compile(pattern, flags)
        except re.error as exc:
            raise RlaifError(f"reward 'regex': invalid pattern {pattern!r}: {exc}") from None
        self.mode = mode

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        match = (
            self.pattern.fullmatch(text.strip()) if self.mode == "fullmatch" else self.pattern.search(text)
        )
        if match:
            return passed(f"matched {match.group(0)[:80]!r}")
        return failed(f"no {self.mode} match for /{self.pattern.pattern}/")


def make_regex(options: dict[str, Any]) -> RegexReward:
    """The completion must match a regular expression."""
    return RegexReward(**options)
