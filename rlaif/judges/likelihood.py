"""The likelihood judge: which response does the model find more natural under the principle?

Small models are poor at *answering* "A or B?" (SmolLM2-135M says "A" whatever the order), but their
log-likelihoods still carry signal. This judge asks for no verdict at all: it scores each response by its mean
per-token log-probability as the reply to the conversation, with a system prompt that states the principle, and
compares the two scores. With ``contrast`` it subtracts a second score of the same response, a
pointwise-mutual-information score that cancels how generic or fluent a text is in itself: ``plain`` (no system
prompt) or ``opposite`` (an opposite principle) isolate the principle's effect; ``prompt`` keeps the system
prompt but drops the conversation (an empty user turn), so the score is how much the user's request makes the
reply likelier -- relevance, with the reply's own fluency and length prior cancelled. Each response is scored separately, so the verdict cannot depend on presentation order.

Needs the backend's optional ``response_logprobs`` method (the transformers backend has it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from rlaif.errors import RlaifError
from rlaif.judges.arithmetic import apply_tie_band, preference_from_scores
from rlaif.options import option
from rlaif.protocols import ChatModel, Comparison, Conversation, Verdict

DEFAULT_SYSTEM = (
    "You are a helpful, honest and harmless assistant. Your replies are judged by this question: {question}"
)
OPPOSITE_SYSTEM = "You are an unhelpful assistant. Your replies are evasive, irrelevant or inaccurate."
Contrast = Literal["none", "plain", "opposite", "prompt"]
CONTRASTS: tuple[str, ...] = get_args(Contrast)
DEFAULT_QUESTION = "Which response is more helpful, honest and harmless?"


@dataclass(kw_only=True)
class LikelihoodOptions:
    """Options of the likelihood judge."""

    system: str = option(
        DEFAULT_SYSTEM,
        "Principle-conditioned system prompt; {question} is the principle's judging question.",
    )
    contrast: Contrast = option(
        "none",
        "Subtract the response's score with no system prompt ('plain'), with "
        "`contrast_system` ('opposite'), or with the same system prompt but no conversation ('prompt': "
        "PMI between reply and request): a PMI score that discounts generic fluent text.",
    )
    contrast_system: str = option(OPPOSITE_SYSTEM, "System prompt of the 'opposite' contrast.")
    reduction: Literal["mean", "sum"] = option(
        "mean", "Per-token mean log-prob (length-normalised) or total."
    )
    temperature: float = option(
        0.25, "p_a = logistic((score_a - score_b) / temperature).", exclusiveMinimum=0
    )
    tie_band: float = option(
        0.0, "p_a within this distance of 0.5 becomes an exact tie.", minimum=0, maximum=0.5
    )


class LikelihoodJudge:
    """Compares responses by their (contrastive) log-likelihood under a principle-conditioned prompt."""

    name = "likelihood"

    def __init__(
        self,
        model: ChatModel,
        system: str = DEFAULT_SYSTEM,
        contrast: str = "none",
        contrast_system: str = OPPOSITE_SYSTEM,
        reduction: str = "mean",
        temperature: float = 0.25,
        tie_band: float = 0.0,
    ):
        if not callable(getattr(model, "response_logprobs", None)):
            raise RlaifError(
                f"the likelihood judge needs response log-probs, and model '{model.name}' cannot give them",
                hint="Use a local model (embedded or a Hugging Face directory) as the judge model, "
                "or another judge (pairwise, score).",
            )
        if contrast not in CONTRASTS:
            raise ValueError(f"contrast must be one of {', '.join(CONTRASTS)}, not {contrast!r}")
        self.model = model
        self.system = system
        self.contrast = contrast
        self.contrast_system = contrast_system
        self.reduction = reduction
        self.temperature = temperature
        self.tie_band = tie_band

    def _conditioned(self, prompt: Conversation, system: str | None) -> Conversation:
        turns = [m for m in prompt if m["role"] != "system"]
        return [{"role": "system", "content": system}, *turns] if system else turns

    def score(
        self,
        prompts: Sequence[Conversation],
        responses: Sequence[str],
        principles: Sequence[Any] | None = None,
    ) -> list[float | None]:
        principles = list(principles) if principles is not None else [None] * len(prompts)
        systems = [
            self.system.format(question=getattr(p, "judging_question", None) or DEFAULT_QUESTION)
            for p in principles
        ]
        conditioned = self.model.response_logprobs(
            [self._conditioned(p, s) for p, s in zip(prompts, systems, strict=True)],
            list(responses),
            reduction=self.reduction,
        )
        if self.contrast == "none":
            return conditioned
        if self.contrast == "prompt":
            empty: Conversation = [{"role": "user", "content": ""}]
            contexts = [self._conditioned(empty, s) for s in systems]
        else:
            other = None if self.contrast == "plain" else self.contrast_system
            contexts = [self._conditioned(p, other) for p in prompts]
        baseline = self.model.response_logprobs(contexts, list(responses), reduction=self.reduction)
        return [None if c is None or b is None else c - b for c, b in zip(conditioned, baseline, strict=True)]

    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]:
        n = len(comparisons)
        scores = self.score(
            [c.prompt for c in comparisons] * 2,
            [c.a for c in comparisons] + [c.b for c in comparisons],
            [c.principle for c in comparisons] * 2,
        )
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


def likelihood_factory(options: dict[str, Any], context: Any) -> LikelihoodJudge:
    """Contrastive log-likelihood of each response under a principle-conditioned prompt (order-free)."""
    return LikelihoodJudge(context.model("judge"), **options)
