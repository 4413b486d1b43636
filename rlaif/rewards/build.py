"""Build a reward by name: what a constitution principle (or any library caller) uses to attach rewards."""

from __future__ import annotations

from typing import Any

from rlaif.protocols import Reward
from rlaif.rewards.base import validate_options


def build_reward(
    name: str, options: dict[str, Any] | None = None, registry: Any | None = None, source: str | None = None
) -> Reward:
    """Look ``name`` up in the plugin registry, validate ``options`` against its schema, build it.

    Unknown names raise :class:`~rlaif.errors.RlaifError` with the available names and a did-you-mean;
    invalid options raise one with every schema violation listed. ``source`` (e.g. ``constitution.yaml:
    principles[2].rewards[0]``) prefixes the unknown-name message so the user knows which file to fix.
    """
    if registry is None:
        from rlaif.plugins import get_registry

        registry = get_registry()
    registration = registry.get("rewards", name, source)
    options = validate_options(name, options, registration.options_schema)
    reward = registration.factory(options)
    if not hasattr(reward, "__name__"):
        try:
            reward.__name__ = name  # TRL logs rewards by __name__
        except (AttributeError, TypeError):
            pass
    return reward
