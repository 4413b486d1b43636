"""rlaif-math: the ``math`` verifiable reward (final-answer extraction + math-verify equivalence)."""

from __future__ import annotations

from rlaif.hookspecs import Register, hookimpl
from rlaif_math.extract import extract_answer, extract_answers, last_boxed, separate_alternatives
from rlaif_math.reward import OPTIONS_SCHEMA, MathReward, make_math

__all__ = [
    "MathReward",
    "extract_answer",
    "extract_answers",
    "last_boxed",
    "make_math",
    "separate_alternatives",
]


@hookimpl
def register_rewards(register: Register) -> None:
    """Register ``math``."""
    register(
        "math",
        make_math,
        description="final answer matches the gold `answer` (math-verify)",
        options_schema=OPTIONS_SCHEMA,
    )
