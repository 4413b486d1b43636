"""The small interfaces plugins implement, and the plain records that flow between them.

Everything here is deliberately tiny: a backend that can chat in batches and score answer labels, a judge that
compares two responses, a reward shaped like a TRL reward function, and an optimizer that trains. Engine logic
depends only on these, so a deterministic test double can stand in for any real model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]
"""One chat turn: ``{"role": "user" | "assistant" | "system", "content": str}``."""

Conversation = list[Message]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one batch of chat completions.

    ``temperature == 0`` means greedy decoding. ``seeds`` (one per conversation, handed to
    :meth:`ChatModel.generate`) make sampling reproducible per request, independent of batch composition.
    """

    max_new_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


@runtime_checkable
class ChatModel(Protocol):
    """A batched chat backend (local transformers model, OpenAI-compatible server, test double).

    ``name`` identifies the model in provenance records (e.g. ``embedded:SmolLM2-135M-Instruct``).

    Optional method (not part of the protocol check; judges look for it with ``getattr``)::

        def response_logprobs(self, conversations, responses, reduction="sum") -> list[float | None]

    the log-probability of each ``response`` as the assistant's reply to its conversation, end-of-turn token
    included (total ``"sum"``, the default, or per-token ``"mean"``; ``None`` where unavailable). The
    transformers backend implements it; the ``likelihood`` judge and ``rlaif eval``'s KL estimate use it.
    """

    name: str

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        seeds: Sequence[int] | None = None,
    ) -> list[str]:
        """Return one assistant reply per conversation, in order."""
        ...

    def label_logprobs(
        self, conversations: Sequence[Conversation], labels: Sequence[str]
    ) -> list[dict[str, float] | None]:
        """Log-probability of each label being the start of the assistant's reply, per conversation.

        Judges read verdicts this way (one forward pass, no sampling). A backend that cannot provide
        log-probs for a conversation returns ``None`` for it; judges then fall back to parsing generated text.
        """
        ...


@dataclass
class Verdict:
    """A judge's comparison of response ``a`` against response ``b``.

    ``p_a`` is the probability that ``a`` is the better response, after any debiasing the judge does.
    ``details`` holds judge-specific evidence (per-order probabilities, rationale, per-principle scores).
    """

    p_a: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Comparison:
    """One pairwise question for a judge."""

    prompt: Conversation
    a: str
    b: str
    principle: Any  # rlaif.constitution.Principle


@runtime_checkable
class Judge(Protocol):
    """Compares responses. ``compare`` is batched: judges can share forward passes across comparisons."""

    name: str

    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]: ...


Reward = Callable[..., list[float | None]]
"""``reward(prompts, completions, **columns) -> list[float | None]``; ``None`` means "cannot judge this one"."""


@dataclass
class TrainRequest:
    """Everything an optimizer needs for one training run."""

    policy: str
    """Model spec or local directory of the policy to start from."""
    output_dir: Path
    pairs: Any | None = None
    """A ``datasets.Dataset`` in TRL's conversational preference format (prompt / chosen / rejected)."""
    prompts: Any | None = None
    """A ``datasets.Dataset`` with a ``prompt`` column (message lists) and any reward columns."""
    rewards: Sequence[Reward] = ()
    reward_weights: Sequence[float] | None = None
    seed: int = 0
    resume: bool = True
    context: Any | None = None
    """The run's :class:`BuildContext` (judges used as scorers reuse its loaded models); may be None."""


@dataclass
class TrainResult:
    checkpoint: Path
    """Directory loadable with ``AutoModelForCausalLM.from_pretrained`` (or a PEFT adapter directory)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class Optimizer(Protocol):
    name: str
    needs: str
    """``"pairs"`` (DPO-like: trains on preference pairs) or ``"prompts"`` (online RL: GRPO, PPO)."""

    def train(self, request: TrainRequest) -> TrainResult: ...


class BuildContext(Protocol):
    """Handed to judge factories so they can reach the run's models without loading them twice.

    rlaif passes its :class:`~rlaif.models.pool.ModelPool`. ``registry`` lets a judge build the judges and rewards
    it names (ensemble members, a fallback); ``with_roles(judge=spec)`` is the same context with the ``judge``
    role re-pointed (a member judge that names its own model).
    """

    registry: Any

    def model(self, role_or_spec: str) -> ChatModel:
        """A chat model by role (``policy``, ``critic``, ``judge``) or by spec string."""
        ...

    def with_roles(self, keep_options: bool = True, **specs: str | None) -> BuildContext:
        """This context with roles re-pointed to other roles or specs; models stay shared."""
        ...
