"""Deterministic test doubles for model backends, and a plugin module that registers them.

``FakeChatModel`` answers with text derived from its inputs and seed, and its label log-probs prefer whichever
response contains ``preferred_marker`` (optionally with a constant position bias). Load it in a run config with
``plugins: [tests.doubles]`` and model spec ``fake:<name>``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rlaif import hookimpl
from rlaif.protocols import Conversation, GenerationParams


class FakeChatModel:
    def __init__(
        self, name: str = "fake", position_bias: float = 0.0, logprobs: bool = True, delay: float = 0.0
    ):
        self.name = f"fake:{name}"
        self.position_bias = position_bias
        self.logprobs = logprobs
        self.delay = delay
        """Seconds each batched call sleeps: makes a run slow enough to be killed mid-way in fault tests."""
        self.generate_calls: list[int] = []
        self.requests = 0

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, seeds=None
    ) -> list[str]:
        self.generate_calls.append(len(conversations))
        self.requests += len(conversations)
        time.sleep(self.delay)
        out = []
        for index, conversation in enumerate(conversations):
            last = conversation[-1]["content"]
            seed = seeds[index] if seeds is not None else 0
            if "Answer with a single letter" in last:
                out.append("B" if "[Response B]\nIMPROVED" in last else "A")
            elif "Rewrite" in last or "rewrite" in last:
                out.append(f"IMPROVED answer (seed {seed % 1000})")
            elif "Identify" in last or "Point out" in last or "Does the" in last:
                out.append("The answer could be clearer.")
            else:
                out.append(f"plain answer to: {last[:40]} (seed {seed % 1000})")
        return out

    def label_logprobs(self, conversations: Sequence[Conversation], labels: Sequence[str]):
        self.requests += len(conversations)
        time.sleep(self.delay)
        if not self.logprobs:
            return [None] * len(conversations)
        out = []
        for conversation in conversations:
            text = conversation[-1]["content"]
            first = text.split("[Response A]")[1].split("[Response B]")[0]
            first_better = 1.0 if "IMPROVED" in first else -1.0
            logit = first_better + self.position_bias
            p_first = 1 / (1 + math.exp(-logit))
            out.append({labels[0]: math.log(p_first), labels[1]: math.log(1 - p_first)})
        return out

    def usage_stats(self) -> dict[str, int]:
        return {"requests": self.requests}


def fake_factory(spec: str, options: dict) -> FakeChatModel:
    """Deterministic fake chat model (tests only)."""
    return FakeChatModel(spec or "fake", **options)


@hookimpl
def register_models(register):
    register(
        "fake",
        fake_factory,
        options_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "position_bias": {"type": "number"},
                "logprobs": {"type": "boolean"},
                "delay": {"type": "number", "minimum": 0},
            },
        },
    )
