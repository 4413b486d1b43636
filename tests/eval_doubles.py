"""Test doubles for evaluation: a "trained" fake policy whose answers the fake judge prefers.

Registers the model scheme ``improved:`` (load with ``plugins: [tests.doubles, tests.eval_doubles]``). Both it
and :class:`ScoredFake` implement ``response_logprobs`` deterministically, so KL estimates are checkable:
the improved model gives its own answers log-prob ``-1.0`` per word, the plain fake ``-2.0`` per word.
"""

from __future__ import annotations

from collections.abc import Sequence

from rlaif import hookimpl
from tests.doubles import FakeChatModel


class ScoredFake(FakeChatModel):
    per_word = -2.0

    def response_logprobs(self, conversations: Sequence, responses: Sequence[str]) -> list[float | None]:
        return [self.per_word * len(response.split()) for response in responses]


class ImprovedFake(ScoredFake):
    """Answers like the fake policy but marked IMPROVED, which the fake judge prefers."""

    per_word = -1.0

    def generate(self, conversations, params, seeds=None):
        answers = super().generate(conversations, params, seeds)
        return [a if a.startswith("IMPROVED") or len(a) <= 2 else f"IMPROVED {a}" for a in answers]


@hookimpl
def register_models(register):
    register("improved", lambda spec, options: ImprovedFake(spec or "improved", **options))
    register("scored", lambda spec, options: ScoredFake(spec or "scored", **options))
