"""The public Python API, for scripts and notebooks: what the CLI does, by name, in a few calls.

::

    from rlaif import load_config, load_constitution, run
    result = run(load_config("rlaif.yaml"))        # the whole loop, as `rlaif run rlaif.yaml`
    print(result.summary())

    from rlaif import build_judge, build_reward
    length = build_reward("length", {"max": 50})   # a TRL-shaped reward function
    judge = build_judge("pairwise")                 # on the embedded model; judge.compare([...])

    from rlaif import learn_constitution, LearnOptions, audit_constitution
    learned = learn_constitution("labels.jsonl", "learned.yaml", LearnOptions(judge="openai:big"))
    print(learned.report["held_out"])                # learned vs starting vs "longer wins", held-out pairs
    audit = audit_constitution("helpful-harmless", "labels.jsonl")

Everything resolves names through the plugin registry (:func:`rlaif.plugins.load_registry`: installed plugins,
``$RLAIF_PLUGINS``, a config's ``plugins:``), exactly as the CLI does.
"""

from __future__ import annotations

from typing import Any

from rlaif.config import RunConfig, load_config
from rlaif.constitution import load_constitution
from rlaif.constitution_learning import (
    AuditReport,
    LearnOptions,
    LearnResult,
    audit_constitution,
    learn_constitution,
)
from rlaif.models import load_chat_model as _load_chat_model
from rlaif.plugins import Registry, load_registry
from rlaif.protocols import ChatModel, Judge, Reward
from rlaif.rewards.build import build_reward as _build_reward
from rlaif.rounds import RunResult, run


def build_reward(
    name: str, options: dict[str, Any] | None = None, registry: Registry | None = None
) -> Reward:
    """A registered reward by name (``length``, ``regex``, ``math``, ``code``, ...), options validated."""
    return _build_reward(name, options, registry or load_registry())


def build_judge(name: str, options: dict[str, Any] | None = None, config: RunConfig | None = None) -> Judge:
    """A registered judge by name, on the models of ``config`` (default: the embedded model in every role).

    The judge's models stay loaded as long as the judge is referenced.
    """
    config = config or load_config()
    registration = config.registry.get("judges", name, config.source)
    return registration.factory(registration.require_valid_options(options, "options"), config.model_pool())


def load_chat_model(
    spec: str, options: dict[str, Any] | None = None, registry: Registry | None = None
) -> ChatModel:
    """A chat model from a spec (``embedded``, a local directory, ``openai:<model>``, ``llamacpp:<gguf>``)."""
    return _load_chat_model(spec, options, registry or load_registry())


__all__ = [
    "AuditReport",
    "LearnOptions",
    "LearnResult",
    "RunConfig",
    "RunResult",
    "audit_constitution",
    "build_judge",
    "build_reward",
    "learn_constitution",
    "load_chat_model",
    "load_config",
    "load_constitution",
    "load_registry",
    "run",
]
