"""An example rlaif reward plugin: ``ends-with-question`` scores 1 when a reply ends by asking the user
something (a behaviour a constitution might want: "check what the user needs before going on").

Everything a reward plugin needs is here: a hook implementation, a factory taking an options dict, an
options JSON Schema, and a reward object callable like a TRL reward function. Copy and edit.

The options are a hand-written JSON Schema (``options_schema=``), which any plugin may keep using; the other
way, an options dataclass registered with ``options=`` (as rlaif's built-ins do), is shown in docs/plugins.md.
"""

from __future__ import annotations

from typing import Any

from rlaif.hookspecs import Register, hookimpl
from rlaif.rewards.base import Outcome, RowReward, failed, passed, skipped

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "last_chars": {
            "type": "integer",
            "minimum": 1,
            "default": 200,
            "description": "only a question mark within the last N characters counts",
        },
    },
    "additionalProperties": False,
}


class EndsWithQuestion(RowReward):
    """1 if a '?' appears in the last ``last_chars`` characters of the reply, else 0; empty replies skip."""

    name = "ends-with-question"

    def __init__(self, last_chars: int = 200):
        self.last_chars = last_chars

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        text = text.strip()
        if not text:
            return skipped("empty reply")
        if "?" in text[-self.last_chars :]:
            return passed("ends with a question")
        return failed(f"no '?' in the last {self.last_chars} characters")


def make_ends_with_question(options: dict[str, Any]) -> EndsWithQuestion:
    """Reply ends by asking the user a question."""
    return EndsWithQuestion(**options)


@hookimpl
def register_rewards(register: Register) -> None:
    register(
        "ends-with-question",
        make_ends_with_question,
        description="reply ends by asking the user a question",
        options_schema=OPTIONS_SCHEMA,
    )
