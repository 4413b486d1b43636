"""The plugin author's contract: every hook rlaif calls, documented.

rlaif is extended with `pluggy <https://pluggy.readthedocs.io>`_, the way pytest and ``llm`` are. A plugin is a
module (or object) with functions decorated by :data:`rlaif.hookimpl` whose names match the specs below. Built-in
judges, rewards, optimizers, model backends and commands register through exactly these hooks too
(see :mod:`rlaif.builtin`), so a third-party plugin is a first-class citizen.

Discovery: installed distributions declare an entry point in the group ``rlaif``::

    [project.entry-points.rlaif]
    math = "rlaif_math"

and ``rlaif --plugin my_module`` (or the ``plugins:`` list in a run config) loads a module by import path.

Each ``register_*`` hook receives a ``register(name, factory, **meta)`` callable. ``meta`` may carry
``description`` (shown by ``rlaif plugins``), ``options_schema`` (a JSON Schema for the options mapping the
factory accepts; ``rlaif config check`` validates user options against it without building anything) and
``check`` (``check(options) -> list[Problem]`` for impossible settings a schema cannot express, e.g. a batch size
that the number of generations must divide; called by ``rlaif config check`` once the schema passes, with each
``Problem.where`` relative to the options mapping).

The objects the factories build follow small protocols, defined in :mod:`rlaif.protocols`:

- **model backend** ``factory(spec: str, options: dict) -> ChatModel`` -- a batched chat model.
  ``spec`` is the text after ``scheme:`` in a model spec string (``openai:gpt-4o-mini`` -> scheme ``openai``).
- **judge** ``factory(options: dict, context: BuildContext) -> Judge`` -- compares two responses under a
  principle; ``context.model(role_or_spec)`` gives the configured chat models.
- **reward** ``factory(options: dict) -> Reward`` -- ``reward(prompts, completions, **columns) ->
  list[float | None]``, the shape of a TRL reward function, so any reward works in GRPO unchanged.
- **optimizer** ``factory(options: dict) -> Optimizer`` -- ``optimizer.train(request) -> TrainResult``.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT_NAME = "rlaif"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The ``register`` callable handed to every ``register_*`` hook."""

    def __call__(self, name: str, factory: Any, **meta: Any) -> None: ...


@hookspec
def register_models(register: Register) -> None:
    """Register chat-model backends by spec scheme.

    ``register("openai", factory)`` makes ``openai:<model>`` specs resolve to ``factory("<model>", options)``.
    The scheme ``hf`` (local Hugging Face directories) and the name ``embedded`` are built in.
    """


@hookspec
def register_judges(register: Register) -> None:
    """Register judges by name: ``register("pairwise", factory, description=..., options_schema=...)``."""


@hookspec
def register_rewards(register: Register) -> None:
    """Register verifiable rewards by name: ``register("math", factory, description=...)``."""


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers by name: ``register("dpo", factory, description=..., options_schema=...)``."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the ``rlaif`` command group: ``cli.add_command(my_command)``."""
