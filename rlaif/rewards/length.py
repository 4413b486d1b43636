"""``length``: the completion's length in words or characters lies in [min, max] (brevity/verbosity rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rlaif.errors import RlaifError
from rlaif.options import UNSET, option
from rlaif.rewards.base import Outcome, RowReward, graded


@dataclass(kw_only=True)
class LengthOptions:
    """Options of the length reward."""

    unit: Literal["words", "chars"] = option("words", "count whitespace-separated words or characters")
    min: int = option(0, "fewest units for full score", minimum=0)
    max: int | None = option(None, "most units for full score (null: no upper bound)", minimum=0)
    soft: bool = option(
        False, "ramp the score linearly to 0 over `ramp` units outside the range instead of 1/0"
    )
    ramp: float | None = option(
        UNSET, "width of the soft ramp in units (default: half the range, or min, or 50)", exclusiveMinimum=0
    )


class LengthReward(RowReward):
    """1 inside [min, max]; outside, 0 or (``soft``) a linear ramp down to 0 over ``ramp`` units."""

    name = "length"

    def __init__(
        self,
        unit: str = "words",
        min: int = 0,
        max: int | None = None,
        soft: bool = False,
        ramp: float | None = None,
    ):
        if max is not None and max < min:
            raise RlaifError(f"reward 'length': max ({max}) is smaller than min ({min})")
        self.unit, self.low, self.high, self.soft = unit, min, max, soft
        default_ramp = (max - min) / 2 if max is not None and max > min else (min or 50)
        self.ramp = float(ramp if ramp is not None else default_ramp or 1)

    def measure(self, text: str) -> int:
        return len(text.split()) if self.unit == "words" else len(text)

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        size = self.measure(text)
        distance = max(0, self.low - size, size - self.high if self.high is not None else 0)
        bounds = f"[{self.low}, {'inf' if self.high is None else self.high}]"
        message = f"{size} {self.unit}, wanted {bounds}"
        if distance == 0:
            return graded(1.0, message)
        return graded(max(0.0, 1.0 - distance / self.ramp) if self.soft else 0.0, message)


def make_length(options: dict[str, Any]) -> LengthReward:
    """The completion's length (words or chars) must lie in [min, max]."""
    return LengthReward(**options)
