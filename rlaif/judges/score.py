"""The score judge: an absolute score for one response, read as an *expected* value from label log-probs.

Two scales: ``"10"`` asks for a 1-10 rating (labels "1".."10"); ``"rubric"`` lists additive criteria ("add a
point if ...", from the judge options or the principle) and asks for the total (labels "0".."N"). Either way the
score is the expectation of the label distribution, so 60% "7" + 40% "8" scores 7.4 rather than 7 -- finer
grained and far less noisy than the argmax. Backends without log-probs fall back to parsing generated text.

The same scorer serves three uses: a pairwise :class:`~rlaif.protocols.Judge` (``p_a`` = logistic of the score
difference), a TRL-shaped reward function (:meth:`ScoreJudge.as_reward`, for direct RLAIF), and the scorer of
best-of-n pair building (:meth:`ScoreJudge.score`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rlaif.judges.arithmetic import apply_tie_band, expected_score, preference_from_scores
from rlaif.judges.pairwise import render_conversation
from rlaif.options import UNSET, option
from rlaif.protocols import ChatModel, Comparison, Conversation, GenerationParams, Reward, Verdict

DEFAULT_QUESTION = "How helpful, honest and harmless is the response?"

SCALE_TEMPLATE = """Rate the assistant's final response to this conversation.

[Conversation]
{conversation}

[Response]
{response}

{question}
Rate it on a scale from 1 (very poor) to 10 (excellent). Answer with a single number from 1 to 10."""

RUBRIC_TEMPLATE = """Score the assistant's final response to this conversation with an additive rubric.

[Conversation]
{conversation}

[Response]
{response}

Start at 0 and add one point for each criterion the response meets:
{criteria}

Answer with the total score only, a single number from 0 to {top}."""


@dataclass(kw_only=True)
class ScoreOptions:
    """Options of the score judge."""

    scale: Literal["10", "rubric"] = option(
        "10", "'10': a 1-10 rating; 'rubric': additive criteria (one point each)."
    )
    criteria: list[str] | None = option(
        UNSET,
        "Rubric criteria ('The response answers the question directly.', ...). Default: "
        "the principle's `criteria` field if it has one, else its judging question as the only criterion.",
    )
    question: str = option(
        DEFAULT_QUESTION,
        "The rating question when no principle is given (as_reward, best-of-n without principles).",
    )
    temperature: float = option(
        1.0, "As a pairwise judge: p_a = logistic((score_a - score_b) / temperature).", exclusiveMinimum=0
    )
    tie_band: float = option(
        0.0,
        "As a pairwise judge: p_a within this distance of 0.5 becomes an exact tie.",
        minimum=0,
        maximum=0.5,
    )
    template: str | None = option(
        UNSET,
        "Custom prompt with {conversation}, {response}, ... Default: a 1-10 rating prompt, or the "
        "additive-rubric prompt for scale: rubric.",
    )


def parse_number(text: str, labels: Sequence[str]) -> float | None:
    """Fallback for backends without log-probs: the first in-range number in the reply."""
    match = re.search(r"\d+", text)
    if match and match.group(0) in labels:
        return float(match.group(0))
    return None


class ScoreJudge:
    """Absolute scores from label log-probs; compares two responses by their score difference."""

    name = "score"

    def __init__(
        self,
        model: ChatModel,
        scale: str = "10",
        criteria: Sequence[str] | None = None,
        question: str = DEFAULT_QUESTION,
        temperature: float = 1.0,
        tie_band: float = 0.0,
        template: str | None = None,
    ):
        self.model = model
        self.scale = scale
        self.criteria = list(criteria) if criteria else None
        self.question = question
        self.temperature = temperature
        self.tie_band = tie_band
        self.template = template or (RUBRIC_TEMPLATE if scale == "rubric" else SCALE_TEMPLATE)

    # -- scoring ---------------------------------------------------------------------------------------------
    def _criteria_for(self, principle: Any) -> list[str]:
        if self.criteria:
            return self.criteria
        own = getattr(principle, "criteria", None)
        if own:
            return list(own)
        return [getattr(principle, "judging_question", None) or self.question]

    def _labels_for(self, principle: Any) -> tuple[str, ...]:
        if self.scale == "rubric":
            return tuple(str(i) for i in range(len(self._criteria_for(principle)) + 1))
        return tuple(str(i) for i in range(1, 11))

    def _question(self, prompt: Conversation, response: str, principle: Any) -> Conversation:
        criteria = self._criteria_for(principle)
        text = self.template.format(
            conversation=render_conversation(prompt),
            response=response,
            question=getattr(principle, "judging_question", None) or self.question,
            criteria="\n".join(f"- {criterion}" for criterion in criteria),
            top=len(criteria),
        )
        return [{"role": "user", "content": text}]

    def score(
        self,
        prompts: Sequence[Conversation],
        responses: Sequence[str],
        principles: Sequence[Any] | None = None,
    ) -> list[float | None]:
        """Expected score of each response (``None`` where neither log-probs nor text gave a number)."""
        principles = list(principles) if principles is not None else [None] * len(prompts)
        questions = [
            self._question(p, r, pr) for p, r, pr in zip(prompts, responses, principles, strict=True)
        ]
        out: list[float | None] = [None] * len(questions)
        # one label_logprobs call per label set (rubric sizes can differ between principles)
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, principle in enumerate(principles):
            groups.setdefault(self._labels_for(principle), []).append(index)
        for labels, indices in groups.items():
            logprobs = self.model.label_logprobs([questions[i] for i in indices], labels)
            for index, lp in zip(indices, logprobs, strict=True):
                out[index] = None if lp is None else expected_score(lp)
        missing = [index for index, value in enumerate(out) if value is None]
        if missing:
            texts = self.model.generate(
                [questions[i] for i in missing], GenerationParams(max_new_tokens=4, temperature=0.0)
            )
            for index, text in zip(missing, texts, strict=True):
                out[index] = parse_number(text, self._labels_for(principles[index]))
        return out

    # -- as a pairwise judge ----------------------------------------------------------------------------------
    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]:
        prompts = [c.prompt for c in comparisons] * 2
        responses = [c.a for c in comparisons] + [c.b for c in comparisons]
        principles = [c.principle for c in comparisons] * 2
        scores = self.score(prompts, responses, principles)
        n = len(comparisons)
        verdicts = []
        for index in range(n):
            score_a, score_b = scores[index], scores[n + index]
            details: dict[str, Any] = {"judge": self.name, "score_a": score_a, "score_b": score_b}
            if score_a is None or score_b is None:
                verdicts.append(Verdict(0.5, {**details, "unparsed": True, "tie": True}))
                continue
            p_a, tie = apply_tie_band(
                preference_from_scores(score_a, score_b, self.temperature), self.tie_band
            )
            verdicts.append(Verdict(p_a, {**details, "tie": tie, "order_independent": True}))
        return verdicts

    # -- as a reward ------------------------------------------------------------------------------------------
    def as_reward(self) -> Reward:
        """A TRL-shaped reward function: ``reward(prompts, completions, **columns) -> list[float | None]``.

        Prompts and completions may be strings or message lists (TRL's standard and conversational formats).
        The expected score is the reward (direct RLAIF: the AI judge's score is the RL reward).
        """

        def score_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any):
            return self.score([as_messages(p) for p in prompts], [as_text(c) for c in completions])

        score_reward.__name__ = f"{self.name}_reward"
        return score_reward


def as_messages(prompt: Any) -> Conversation:
    """A prompt as a message list: strings become one user turn."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return list(prompt)


def as_text(completion: Any) -> str:
    """A completion as text: message lists (TRL conversational) give their assistant content."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role", "assistant") == "assistant")


def score_factory(options: dict[str, Any], context: Any) -> ScoreJudge:
    """Absolute 1-10 or rubric score (expected value from label log-probs); pairwise via score difference."""
    return ScoreJudge(context.model("judge"), **options)
