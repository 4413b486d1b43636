"""The pairwise judge: which of two responses better follows a principle?

The verdict is a *soft* label read from the judge model's log-probabilities of the answer letters, not from
sampled text. Small models have a strong position bias (SmolLM2-135M answers "A" whatever the order), so by
default each comparison is asked in both orders and the two probabilities are averaged: a judge that always
says "A" then lands at 0.5 -- a tie -- instead of a confident wrong label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rlaif.judges.arithmetic import (  # two_way_probability/combine_orders re-exported for callers
    apply_tie_band,
    clamp,
    combine_orders,
    logit,
    sigmoid,
    two_way_probability,
)
from rlaif.options import option
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

COT_INSTRUCTION = "First explain briefly, in one or two sentences, which response is better and why."
COT_FOLLOW_UP = "So which response is better? Answer with a single letter: A or B."


@dataclass(kw_only=True)
class PairwiseOptions:
    """Options of the pairwise judge."""

    both_orders: bool = option(True, "Ask A/B and B/A and combine.")
    debias: Literal["logit", "mean"] = option(
        "logit",
        "Combine the two orders by mean log-odds (cancels a constant position bias) or mean probability.",
    )
    template: str = option(
        DEFAULT_TEMPLATE, "Prompt template with {conversation}, {first}, {second} and {question}."
    )
    calibrate: bool = option(
        False,
        "Subtract the label prior measured on a content-free input (same template, 'N/A' "
        "everywhere) from each order's log-odds: fixes a position bias even in single-order mode.",
    )
    cot: bool = option(
        False,
        "Chain of thought: generate a rationale first, then read the A/B label log-probs "
        "after it. The rationale is kept in the verdict's details.",
    )
    cot_max_tokens: int = option(64, "Rationale length.", minimum=1)
    cot_clamp: list[float] = option(
        [0.4, 0.6],
        "Clamp each CoT order's probability to [low, high] (CAI paper: 40-60%) so one "
        "confident rationale cannot dominate. [0, 1] disables.",
        schema={"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
        minItems=2,
        maxItems=2,
    )
    tie_band: float = option(
        0.0,
        "Final probabilities within this distance of 0.5 become exact ties (p_a = 0.5).",
        minimum=0,
        maximum=0.5,
    )


def render_conversation(messages: Conversation) -> str:
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


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
        calibrate: bool = False,
        cot: bool = False,
        cot_max_tokens: int = 64,
        cot_clamp: Sequence[float] = (0.4, 0.6),
        tie_band: float = 0.0,
    ):
        self.model = model
        self.both_orders = both_orders
        self.debias = debias
        self.template = template
        self.calibrate = calibrate
        self.cot = cot
        self.cot_max_tokens = cot_max_tokens
        self.cot_clamp = (float(cot_clamp[0]), float(cot_clamp[1]))
        self.tie_band = tie_band
        self._priors: dict[str, float | None] = {}

    def _question(self, comparison: Comparison, first: str, second: str) -> Conversation:
        return self._render(render_conversation(comparison.prompt), first, second, comparison.principle)

    def _render(self, conversation: str, first: str, second: str, principle: Any) -> Conversation:
        text = self.template.format(
            conversation=conversation, first=first, second=second, question=principle.judging_question
        )
        if self.cot:
            if "Answer with a single letter: A or B." in text:
                text = text.replace("Answer with a single letter: A or B.", COT_INSTRUCTION)
            else:
                text = f"{text}\n\n{COT_INSTRUCTION}"
        return [{"role": "user", "content": text}]

    def _with_rationales(self, questions: list[Conversation]) -> tuple[list[Conversation], list[str]]:
        """CoT: generate a rationale per question, then ask for the label after it."""
        rationales = self.model.generate(
            questions, GenerationParams(max_new_tokens=self.cot_max_tokens, temperature=0.0)
        )
        followed = [
            [
                *question,
                {"role": "assistant", "content": rationale},
                {"role": "user", "content": COT_FOLLOW_UP},
            ]
            for question, rationale in zip(questions, rationales, strict=True)
        ]
        return followed, rationales

    def _prior(self, principle: Any) -> float | None:
        """P(first) on a content-free input for this principle's question (cached): the label prior."""
        key = principle.judging_question
        if key not in self._priors:
            empty = self._render("User: N/A", "N/A", "N/A", principle)
            if self.cot:
                empty, _ = self._with_rationales([empty])
            (logprobs,) = self.model.label_logprobs([empty], LABELS)
            self._priors[key] = None if logprobs is None else two_way_probability(logprobs)
        return self._priors[key]

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

    def _adjust(self, p_first: float | None, principle: Any) -> float | None:
        """Per-order corrections: label-prior calibration, then the CoT clamp."""
        if p_first is None:
            return None
        if self.calibrate:
            prior = self._prior(principle)
            if prior is not None:
                p_first = sigmoid(logit(p_first) - logit(prior))
        if self.cot:
            p_first = clamp(p_first, *self.cot_clamp)
        return p_first

    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]:
        questions = [self._question(c, c.a, c.b) for c in comparisons]
        if self.both_orders:
            questions += [self._question(c, c.b, c.a) for c in comparisons]
        rationales: list[str] | None = None
        if self.cot:
            questions, rationales = self._with_rationales(questions)
        n = len(comparisons)
        if self.both_orders and not self.cot:
            # One call per order: a backend with a prefix cache then feeds the second order only from the first
            # response on (instructions and conversation are the same in both). With CoT, one call: every
            # question then continues a rationale the previous (generate) call has just cached.
            raw = self._first_wins(questions[:n]) + self._first_wins(questions[n:])
        else:
            raw = self._first_wins(questions)
        verdicts = []
        for index, comparison in enumerate(comparisons):
            forward = self._adjust(raw[index], comparison.principle)
            backward_first = self._adjust(raw[n + index], comparison.principle) if self.both_orders else None
            backward = None if backward_first is None else 1.0 - backward_first
            details: dict[str, Any] = {
                "judge": self.name,
                "p_a_order_ab": forward,
                "p_a_order_ba": backward,
                "raw_p_a_order_ab": raw[index],
                "raw_p_a_order_ba": None
                if not self.both_orders or raw[n + index] is None
                else 1.0 - raw[n + index],
            }
            if rationales is not None:
                details["rationale_ab"] = rationales[index]
                if self.both_orders:
                    details["rationale_ba"] = rationales[n + index]
            values = [v for v in (forward, backward) if v is not None]
            if not values:
                verdicts.append(Verdict(0.5, {**details, "unparsed": True, "tie": True}))
                continue
            p_a, tie = apply_tie_band(combine_orders(values, self.debias), self.tie_band)
            details["tie"] = tie
            verdicts.append(Verdict(p_a, details))
        return verdicts


def pairwise_factory(options: dict[str, Any], context: Any) -> PairwiseJudge:
    """Pairwise A/B judge: soft labels from log-probs, both orders averaged."""
    return PairwiseJudge(context.model("judge"), **options)
