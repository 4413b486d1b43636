"""``exact-match``: the completion equals a gold column (``answer`` by default) after normalisation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rlaif.options import option
from rlaif.rewards.base import Outcome, RowReward, failed, passed, skipped


@dataclass(kw_only=True)
class ExactMatchOptions:
    """Options of the exact-match reward."""

    column: str = option("answer", "dataset column with the gold text")
    case_sensitive: bool = option(False, "compare case-sensitively")
    normalize_whitespace: bool = option(True, "collapse runs of whitespace and strip both ends")
    strip_punctuation: bool = option(False, "drop trailing . ! ? and surrounding quotes before comparing")


class ExactMatchReward(RowReward):
    """1 if the normalised completion equals the normalised gold value (or any of a list of them)."""

    name = "exact-match"

    def __init__(
        self,
        column: str = "answer",
        case_sensitive: bool = False,
        normalize_whitespace: bool = True,
        strip_punctuation: bool = False,
    ):
        self.column = column
        self.case_sensitive = case_sensitive
        self.normalize_whitespace = normalize_whitespace
        self.strip_punctuation = strip_punctuation

    def normalize(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", str(text))
        if self.normalize_whitespace:
            text = re.sub(r"\s+", " ", text).strip()
        if self.strip_punctuation:
            text = text.strip().strip("\"'`").rstrip(".!?").strip()
        return text if self.case_sensitive else text.casefold()

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        if row.get(self.column) is None:
            return skipped(f"no '{self.column}' column for this row")
        gold = row[self.column]
        golds = [str(g) for g in gold] if isinstance(gold, (list, tuple)) else [str(gold)]
        if self.normalize(text) in {self.normalize(g) for g in golds}:
            return passed("exact match")
        return failed(f"expected {golds[0][:80]!r}")


def make_exact_match(options: dict[str, Any]) -> ExactMatchReward:
    """The completion must equal the gold column after whitespace/case normalisation."""
    return ExactMatchReward(**options)
