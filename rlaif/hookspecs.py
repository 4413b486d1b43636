"""The plugin author's contract: every hook rlaif calls, documented the way pytest documents its hooks.

rlaif is extended with `pluggy <https://pluggy.readthedocs.io>`_, the way pytest and ``llm`` are. A plugin is a
module (or object) with functions decorated by :data:`rlaif.hookimpl` whose names match the specs below. Built-in
judges, rewards, optimizers, model backends and commands register through exactly these hooks too
(see :mod:`rlaif.builtin`), so a third-party plugin is a first-class citizen.

**Discovery** (:func:`rlaif.plugins.load_registry`): the built-ins, then installed distributions' entry points in
the group ``rlaif``::

    [project.entry-points.rlaif]
    math = "rlaif_math"

then modules by import path from ``RLAIF_PLUGINS=mod1,mod2`` and a run config's ``plugins:`` list.
``RLAIF_LOAD_PLUGINS=a,b`` loads only those entry points (empty: none); ``RLAIF_DISABLE_PLUGINS=a,b`` skips some.
A plugin that registers a name another plugin registered earlier replaces it; rlaif warns and
``rlaif plugins`` marks it.

**When hooks are called**: the ``register_*`` hooks once per registry (once per process for the CLI, once per
distinct ``plugins:`` list), in registration order, before any command runs; ``register_commands`` once when
the ``rlaif`` command group is built. Registering must be cheap: store factories, import heavy libraries inside
them.

**The ``register`` callable** handed to each ``register_*`` hook (:class:`Register`)::

    register(name, factory, *, description=None, options=None, options_schema=None, check=None)

- ``description``: one line for ``rlaif plugins`` (default: the factory docstring's first line);
- ``options``: a dataclass declaring the factory's options (:mod:`rlaif.options`): the one source of their JSON
  Schema, defaults, ``rlaif plugins --json`` docs and ``docs/options.md``;
- ``options_schema``: or a hand-written JSON Schema for the options mapping (third-party plugins may keep these);
- ``check``: ``check(options)`` or ``check(options, registry)`` returning a list of
  :class:`rlaif.errors.Problem` for impossible settings a schema cannot express (``Problem.where`` relative to
  the options mapping). Called by ``rlaif config check`` and before a run, after the schema passed.

A factory always receives its options **validated and with every default filled in** (the same mapping a run's
``config.yaml`` records), so it never needs ``options.get(key, default)``.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT_NAME = "rlaif"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The ``register`` callable handed to every ``register_*`` hook (see the module docstring)."""

    def __call__(
        self,
        name: str,
        factory: Any,
        *,
        description: str | None = None,
        options: type | None = None,
        options_schema: dict[str, Any] | None = None,
        check: Any = None,
    ) -> None: ...


@hookspec
def register_models(register: Register) -> None:
    """Register chat-model backends by spec scheme.

    :param register: call ``register(scheme, factory, ...)`` once per backend.

    ``factory(spec: str, options: dict) -> ChatModel`` receives the text after ``scheme:`` in a model spec
    (``openai:gpt-4o-mini`` -> ``"gpt-4o-mini"``) and the role's backend options (``models.policy: {spec: ...,
    base_url: ...}``). It must return an object following :class:`rlaif.protocols.ChatModel` (batched
    ``generate``, ``label_logprobs``; optionally ``response_logprobs`` and ``close``). It is called when a run,
    eval or judge first needs that model; the :class:`rlaif.models.pool.ModelPool` shares one instance among
    every role with the same spec and options and calls ``close()`` when the phase ends.

    Built in: ``embedded`` (SmolLM2-135M-Instruct), ``hf`` (local directories; also specs without a scheme),
    ``openai`` (any OpenAI-compatible server), ``llamacpp`` (a GGUF served in-process).
    """


@hookspec
def register_judges(register: Register) -> None:
    """Register judges by name.

    :param register: call ``register(name, factory, ...)`` once per judge.

    ``factory(options: dict, context: BuildContext) -> Judge`` is called once per run (and per eval, and per
    ``judge-eval``) with the judge's options and a :class:`rlaif.protocols.BuildContext` (the model pool):
    ``context.model("judge")`` / ``"critic"`` / ``"policy"`` or any spec gives loaded chat models,
    ``context.registry`` lets it build the judges and rewards it names (ensemble members, a fallback), and
    ``context.with_roles(judge=spec)`` re-points a role. It must return a :class:`rlaif.protocols.Judge`:
    ``compare(comparisons) -> list[Verdict]``, one verdict per comparison, in order, ``p_a`` = probability
    that response ``a`` is better. A judge that can score single responses may offer ``as_reward()`` for
    online optimizers.
    """


@hookspec
def register_rewards(register: Register) -> None:
    """Register verifiable rewards by name.

    :param register: call ``register(name, factory, ...)`` once per reward.

    ``factory(options: dict) -> Reward`` must return a callable shaped like a TRL reward function,
    ``reward(prompts, completions, **columns) -> list[float | None]`` (``None``: cannot judge this row), so any
    reward works in GRPO unchanged. Optionally ``details(prompts, completions, **columns)`` returning
    ``{score, status, message}`` per row (``rlaif rewards score``, eval pass rates), and ``hack_counts``
    (kind -> attempts caught) for a reward that recognises attempts to game it: online optimizers log them as
    ``hacks/<reward>/<kind>`` and ``hacks_total`` (see the code reward). Built when a constitution
    principle, an online optimizer, ``rlaif eval`` or ``rlaif rewards score`` names it. Rewards are attack
    surfaces: an optimizer will find any way to be paid without doing the task.
    """


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers by name.

    :param register: call ``register(name, factory, ...)`` once per optimizer.

    ``factory(options: dict) -> Optimizer`` is called when a run trains (and by ``rlaif train``). The returned
    :class:`rlaif.protocols.Optimizer` has ``needs`` (``"pairs"``: trains on the round's preference dataset;
    ``"prompts"``: samples and scores its own completions) and ``train(request: TrainRequest) -> TrainResult``
    that writes a loadable model to ``TrainResult.checkpoint`` (a ``save_pretrained`` directory) and resumes
    from its own checkpoints in ``request.output_dir`` when ``request.resume`` is set.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the ``rlaif`` command group: ``cli.add_command(my_command)``.

    :param cli: the root :class:`click.Group`. Called once when the CLI is built. Commands should only parse,
        call library functions and print; raise :class:`rlaif.errors.RlaifError` for user errors (the CLI prints
        it and exits 2, no traceback).
    """
