"""``regex``: the completion must match a pattern (format rules such as "ends with 'Final answer: X'")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from rlaif.errors import RlaifError
from rlaif.options import option
from rlaif.rewards.base import Outcome, RowReward, failed, passed


@dataclass(kw_only=True)
class RegexOptions:
    """Options of the regex reward."""

    pattern: str = option(help="Python regular expression")
    mode: Literal["search", "fullmatch"] = option(
        "search", "search: anywhere in the text; fullmatch: the whole (stripped) text"
    )
    ignore_case: bool = option(False, "match case-insensitively")
    multiline: bool = option(False, "^ and $ match at line breaks")
    dotall: bool = option(False, ". matches newlines")


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
