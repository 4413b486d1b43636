"""The pairwise judge: which of two responses better follows a principle?

The verdict is a *soft* label read from the judge model's log-probabilities of the answer letters, not from
sampled text. Small models have a strong position bias (SmolLM2-135M answers "A" whatever the order), so by
default each comparison is asked in both orders and the two probabilities are averaged: a judge that always
says "A" then lands at 0.5 -- a tie -- instead of a confident wrong label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from rlaif.protocols import ChatModel, Comparison, Conversation, GenerationParams, Verdict

LABELS = ("A", "B")

DEFAULT_TEMPLATE = """You are comparing two assistant responses to the same conversation.

[Conversation]
{conversation}

[Response A]
{first}

[Response B]
{second}

{question}
Answer with a single letter: A or B."""

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "both_orders": {"type": "boolean", "default": True, "description": "Ask A/B and B/A and combine."},
        "debias": {
            "enum": ["logit", "mean"],
            "default": "logit",
            "description": "Combine the two orders by mean log-odds (cancels a constant position bias) or mean probability.",
        },
        "template": {
            "type": "string",
            "description": "Prompt template with {conversation}, {first}, {second} and {question}.",
        },
    },
}


def render_conversation(messages: Conversation) -> str:
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def two_way_probability(logprobs: dict[str, float]) -> float:
    """P(first label) renormalised over the two labels (softmax of their log-probs)."""
    a, b = logprobs[LABELS[0]], logprobs[LABELS[1]]
    top = max(a, b)
    ea, eb = math.exp(a - top), math.exp(b - top)
    return ea / (ea + eb)


def combine_orders(values: Sequence[float], method: str = "logit") -> float:
    """Combine P(a wins) from each order: mean log-odds (default) or mean probability."""
    if method == "mean" or len(values) == 1:
        return sum(values) / len(values)
    eps = 1e-6
    clipped = [min(max(v, eps), 1 - eps) for v in values]
    mean_logit = sum(math.log(v / (1 - v)) for v in clipped) / len(clipped)
    return 1.0 / (1.0 + math.exp(-mean_logit))


def parse_label(text: str) -> float | None:
    """Fallback for backends without log-probs: 1.0 for "A", 0.0 for "B", None if neither is clear."""
    match = re.search(r"\b(A|B)\b", text.strip())
    if not match:
        return None
    return 1.0 if match.group(1) == "A" else 0.0


class PairwiseJudge:
    """Soft pairwise verdicts from answer-label log-probs, debiased by evaluating both orders."""

    name = "pairwise"

    def __init__(
        self,
        model: ChatModel,
        both_orders: bool = True,
        template: str = DEFAULT_TEMPLATE,
        debias: str = "logit",
    ):
        self.model = model
        self.both_orders = both_orders
        self.debias = debias
        self.template = template

    def _question(self, comparison: Comparison, first: str, second: str) -> Conversation:
        text = self.template.format(
            conversation=render_conversation(comparison.prompt),
            first=first,
            second=second,
            question=comparison.principle.judging_question,
        )
        return [{"role": "user", "content": text}]

    def _first_wins(self, questions: Sequence[Conversation]) -> list[float | None]:
        """P(the response shown first is better), per question."""
        logprobs = self.model.label_logprobs(questions, LABELS)
        out: list[float | None] = [None if lp is None else two_way_probability(lp) for lp in logprobs]
        missing = [index for index, value in enumerate(out) if value is None]
        if missing:
            texts = self.model.generate(
                [questions[index] for index in missing], GenerationParams(max_new_tokens=4, temperature=0.0)
            )
            for index, text in zip(missing, texts, strict=True):
                out[index] = parse_label(text)
        return out

    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]:
        questions = [self._question(c, c.a, c.b) for c in comparisons]
        if self.both_orders:
            questions += [self._question(c, c.b, c.a) for c in comparisons]
        first_wins = self._first_wins(questions)
        verdicts = []
        n = len(comparisons)
        for index in range(n):
            forward = first_wins[index]
            backward = (
                1.0 - first_wins[n + index]
                if self.both_orders and first_wins[n + index] is not None
                else None
            )
            values = [v for v in (forward, backward) if v is not None]
            details: dict[str, Any] = {"judge": self.name, "p_a_order_ab": forward, "p_a_order_ba": backward}
            if not values:
                verdicts.append(Verdict(0.5, {**details, "unparsed": True}))
                continue
            verdicts.append(Verdict(combine_orders(values, self.debias), details))
        return verdicts


def pairwise_factory(options: dict[str, Any], context: Any) -> PairwiseJudge:
    """Pairwise A/B judge: soft labels from log-probs, both orders averaged."""
    return PairwiseJudge(context.model("judge"), **options)
