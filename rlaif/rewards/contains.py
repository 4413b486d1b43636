"""``contains`` / ``not-contains``: required phrases (a disclaimer, a citation marker) or banned ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rlaif.options import option
from rlaif.rewards.base import Outcome, RowReward, graded


@dataclass(kw_only=True)
class ContainsOptions:
    """Options of the contains / not-contains rewards."""

    strings: str | list[str] = option(
        help="one string or a list of strings",
        schema={"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
    )
    match: Literal["all", "any"] = option(
        "all",
        "contains: every string (all) or at least one (any) must occur; "
        "not-contains: none may occur (all) or not every one may occur (any)",
    )
    case_sensitive: bool = option(False, "compare case-sensitively")
    partial_credit: bool = option(False, "score the fraction of strings satisfied instead of 1/0")


class ContainsReward(RowReward):
    """Checks the presence (``negate=False``) or absence (``negate=True``) of literal strings."""

    def __init__(
        self,
        strings: str | list[str],
        match: str = "all",
        case_sensitive: bool = False,
        partial_credit: bool = False,
        negate: bool = False,
    ):
        self.strings = [strings] if isinstance(strings, str) else list(strings)
        self.match = match
        self.case_sensitive = case_sensitive
        self.partial_credit = partial_credit
        self.negate = negate
        self.name = "not-contains" if negate else "contains"

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        haystack = text if self.case_sensitive else text.casefold()
        found = [s for s in self.strings if (s if self.case_sensitive else s.casefold()) in haystack]
        ok = [s for s in self.strings if (s in found) != self.negate]
        missing = [s for s in self.strings if s not in ok]
        verb = "contains" if self.negate else "lacks"
        message = f"{verb} {missing!r}" if missing else "ok"
        if self.partial_credit:
            return graded(len(ok) / len(self.strings), message)
        satisfied = bool(ok) if self.match == "any" else not missing
        return graded(1.0 if satisfied else 0.0, message)


def make_contains(options: dict[str, Any]) -> ContainsReward:
    """The completion must contain the given strings."""
    return ContainsReward(**options)


def make_not_contains(options: dict[str, Any]) -> ContainsReward:
    """The completion must not contain the given strings."""
    return ContainsReward(**options, negate=True)
