"""Small deterministic doubles for judge tests: a chat model whose answers are functions of its input."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rlaif import hookimpl


class ScriptedModel:
    """``label_fn(text, labels) -> {label: prob}``; ``generate_fn(conversation) -> str``;
    ``response_fn(conversation, response) -> float`` (absent unless given, like a backend without it)."""

    def __init__(
        self,
        label_fn: Callable[[str, Sequence[str]], dict[str, float] | None],
        generate_fn: Callable[[list[dict]], str] = lambda conversation: "",
        response_fn: Callable[[list[dict], str], float] | None = None,
        name: str = "scripted",
    ):
        self.name = name
        self.label_fn = label_fn
        self.generate_fn = generate_fn
        self.label_calls: list[list[list[dict]]] = []
        self.generate_calls: list[list[list[dict]]] = []
        if response_fn is not None:
            self.response_fn = response_fn
            self.response_logprobs = self._response_logprobs

    def generate(self, conversations, params, seeds=None):
        self.generate_calls.append(list(conversations))
        return [self.generate_fn(c) for c in conversations]

    def label_logprobs(self, conversations, labels):
        self.label_calls.append(list(conversations))
        out = []
        for conversation in conversations:
            probs = self.label_fn("\n".join(m["content"] for m in conversation), labels)
            out.append(None if probs is None else {k: math.log(max(v, 1e-12)) for k, v in probs.items()})
        return out

    def _response_logprobs(self, conversations, responses, reduction="sum"):
        return [self.response_fn(c, r) for c, r in zip(conversations, responses, strict=True)]


def first_shown(text: str) -> str:
    return text.split("[Response A]")[1].split("[Response B]")[0]


class Context:
    """A BuildContext that hands out fixed models by role or spec."""

    def __init__(self, models: dict, registry=None, roles: dict | None = None):
        from rlaif.plugins import load_registry

        self.models = models
        self.registry = registry if registry is not None else load_registry()
        self.roles = roles or {}

    def model(self, role_or_spec):
        return self.models[self.roles.get(role_or_spec, role_or_spec)]

    def with_roles(self, keep_options=True, **specs):
        roles = {**self.roles, **{role: spec for role, spec in specs.items() if spec}}
        return Context(self.models, self.registry, roles)


# -- a tiny reward plugin for rewards-as-judge tests -----------------------------------------------------------
def contains_answer_factory(options):
    """1.0 if the completion contains the `answer` column, 0.0 if not; None without an answer."""

    def reward(prompts, completions, answer=None, **columns):
        answers = answer or [None] * len(completions)
        return [None if a is None else float(str(a) in c) for c, a in zip(completions, answers, strict=True)]

    return reward


@hookimpl
def register_rewards(register):
    register("contains-answer", contains_answer_factory)
