"""Deterministic doubles for constitution learning: a critic that proposes known principles and a judge whose
agreement with the labels is known in advance, per principle.

``KnownModel`` plays both roles (register it as backend ``known``: ``--critic known:x --judge known:x``):

- ``generate`` answers the critic prompt with ``PROPOSALS`` (the same for every pair);
- ``label_logprobs`` reads the judging question and prefers, with probability 0.9, the shown response that has
  the property the question names: ``longer`` / ``shorter`` (characters), ``mentions apples`` (contains
  "apple"); any other question is a 50/50 tie. Both orders agree, so the pairwise judge's verdict is exactly
  the property's side, and a principle's agreement with the labels is a count over the data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rlaif import hookimpl

PROPOSALS = (
    "1. Select the response that is longer.\n"
    "2. Select the response that mentions apples.\n"
    "3. Select the response that is shorter.\n"
    "Select the response that is the longer one.\n"
    "Some chatter without the phrase."
)


def shown(text: str) -> tuple[str, str]:
    first = text.split("[Response A]\n")[1].split("\n\n[Response B]")[0]
    second = text.split("[Response B]\n")[1].split("\n\n")[0]
    return first, second


def first_has_property(text: str) -> float | None:
    """1/0: the first shown response has the question's property (the other has not); None: no preference."""
    first, second = shown(text)
    if "is longer?" in text or "longer one?" in text:
        return None if len(first) == len(second) else float(len(first) > len(second))
    if "is shorter?" in text:
        return None if len(first) == len(second) else float(len(first) < len(second))
    if "mentions apples?" in text:
        a, b = "apple" in first, "apple" in second
        return None if a == b else float(a)
    return None


class KnownModel:
    def __init__(self, name: str = "known", fail_after: int | None = None, delay: float = 0.0):
        self.name = f"known:{name}"
        self.fail_after = fail_after
        self.delay = delay
        """Seconds each label call sleeps: slow enough for a test to kill the process mid-learn."""
        self.generate_calls: list[int] = []
        self.label_calls: list[int] = []

    def generate(self, conversations, params, seeds=None) -> list[str]:
        self.generate_calls.append(len(conversations))
        return [PROPOSALS for _ in conversations]

    def label_logprobs(self, conversations: Sequence[list[dict]], labels: Sequence[str]):
        if self.fail_after is not None and len(self.label_calls) >= self.fail_after:
            raise KeyboardInterrupt("killed mid-learn")
        self.label_calls.append(len(conversations))
        time.sleep(self.delay)
        out = []
        for conversation in conversations:
            side = first_has_property(conversation[-1]["content"])
            p = 0.5 if side is None else (0.9 if side else 0.1)
            out.append({labels[0]: math.log(p), labels[1]: math.log(1 - p)})
        return out


def known_factory(spec: str, options: dict) -> KnownModel:
    """Critic/judge double with known per-principle agreement (tests only)."""
    return KnownModel(spec or "known", **options)


@hookimpl
def register_models(register):
    register(
        "known",
        known_factory,
        options_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {"fail_after": {"type": "integer"}, "delay": {"type": "number", "minimum": 0}},
        },
    )
