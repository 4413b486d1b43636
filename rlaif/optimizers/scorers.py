"""Turn an optimizer's ``rewards:`` and ``judges:`` options into weighted TRL-shaped reward functions.

Online optimizers (GRPO, PPO) score sampled completions with any mix of

- rewards from the registry (kind ``rewards``: ``factory(options) -> reward(prompts, completions, **columns)``),
- judges used as scorers (direct RLAIF): a judge registered under kind ``judges`` whose built object has an
  ``as_reward()`` method returning the same reward-function shape (e.g. the ``score`` judge),
- reward functions handed in by the caller (``TrainRequest.rewards`` / ``reward_weights``).

Judges are built with the run's :class:`~rlaif.protocols.BuildContext` (``TrainRequest.context``) so they reuse
the models the pipeline already loaded; without one, model specs are loaded on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.plugins import Registry
from rlaif.protocols import Reward

SCORER_LIST_SCHEMA = {
    "type": "array",
    "default": [],
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "options": {"type": "object", "default": {}},
            "weight": {"type": "number", "default": 1.0},
        },
    },
}


def scorer_problems(options: dict[str, Any], registry: Any, optimizer: str) -> list[Problem]:
    """Unknown reward / judge names in the options (checked without building anything)."""
    problems = []
    for kind in ("rewards", "judges"):
        for index, entry in enumerate(options.get(kind) or []):
            if entry["name"] not in registry.entries[kind]:
                known = ", ".join(registry.names(kind)) or "none installed"
                problems.append(
                    Problem(
                        f"unknown {kind[:-1]} '{entry['name']}' (available: {known})",
                        where=f"optimizer.options.{kind}[{index}].name",
                    )
                )
    return problems


def hack_metrics(funcs: Sequence[Any]) -> dict[str, int]:
    """Reward-hack attempts the rewards caught while training, for the run's metrics and report.

    A reward that recognises attempts to game it (the code reward's harness reports which guard fired) exposes
    ``hack_counts`` (kind -> count); online optimizers add them as ``hacks/<reward>/<kind>`` and
    ``hacks_total``. A policy that learns to try hacks shows here even when every attempt scored 0.
    """
    out: dict[str, int] = {}
    for func in funcs:
        counts = getattr(getattr(func, "__wrapped__", func), "hack_counts", None)
        for kind, count in dict(counts or {}).items():
            out[f"hacks/{getattr(func, '__name__', 'reward')}/{kind}"] = int(count)
    if out:
        out["hacks_total"] = sum(out.values())
    return out


def _named(func: Any, name: str, force: bool = False) -> Any:
    """Give ``func`` a ``__name__`` (TRL logs each reward as ``rewards/<__name__>/mean``)."""
    if force or not hasattr(func, "__name__"):
        try:
            func.__name__ = name
        except (AttributeError, TypeError):  # bound methods and some callables refuse: wrap them

            def named(*args: Any, **kwargs: Any) -> Any:
                return func(*args, **kwargs)

            named.__name__ = name
            named.__wrapped__ = func  # type: ignore[attr-defined]  (hack_metrics looks through it)
            return named
    return func


def build_scorers(
    options: dict[str, Any],
    given: Sequence[Reward] = (),
    given_weights: Sequence[float] | None = None,
    context: Any = None,
    registry: Registry | None = None,
) -> tuple[list[Reward], list[float]]:
    """All reward functions and their weights: the caller's first, then ``rewards:``, then ``judges:``.

    Judges are built with ``context`` (the run's model pool); without one, a pool of ``registry`` serves them
    (roles are then the embedded model). One of the two must be given.
    """
    from rlaif.models.pool import ModelPool
    from rlaif.rewards.build import build_reward

    if registry is None and context is not None:
        registry = context.registry
    if registry is None and (options.get("rewards") or options.get("judges")):
        raise RlaifError(
            "named rewards or judges need the plugin registry: pass TrainRequest.context (a ModelPool)"
        )
    funcs: list[Reward] = list(given)
    weights = list(given_weights) if given_weights is not None else [1.0] * len(funcs)
    if len(weights) != len(funcs):
        raise RlaifError(f"{len(funcs)} rewards but {len(weights)} reward weights")
    for entry in options.get("rewards") or []:
        funcs.append(build_reward(entry["name"], entry.get("options") or {}, registry))
        weights.append(float(entry.get("weight", 1.0)))
    for index, entry in enumerate(options.get("judges") or []):
        registration = registry.get("judges", entry["name"])
        context = context or ModelPool(registry)
        options = registration.require_valid_options(
            entry.get("options"), f"optimizer.options.judges[{index}]"
        )
        judge = registration.factory(options, context)
        if not hasattr(judge, "as_reward"):
            raise RlaifError(
                f"optimizer.options.judges[{index}]: judge '{entry['name']}' cannot score single responses "
                "(it has no as_reward()); use a scoring judge such as 'score'"
            )
        funcs.append(_named(judge.as_reward(), f"judge:{entry['name']}", force=True))
        weights.append(float(entry.get("weight", 1.0)))
    return [_named(func, f"reward_{index}") for index, func in enumerate(funcs)], weights


def weighted_scores(
    funcs: Sequence[Reward], weights: Sequence[float], prompts: list, completions: list, **columns: Any
) -> tuple[list[float], dict[str, float]]:
    """Weighted sum per completion (``None`` counts as 0) plus each function's mean, for logging."""
    totals = [0.0] * len(completions)
    means = {}
    for func, weight in zip(funcs, weights, strict=True):
        scores = func(prompts=prompts, completions=completions, **columns)
        valid = [s for s in scores if s is not None]
        means[getattr(func, "__name__", "reward")] = sum(valid) / len(valid) if valid else float("nan")
        for i, score in enumerate(scores):
            totals[i] += weight * (0.0 if score is None else float(score))
    return totals, means
