"""Build a reward by name: what a constitution principle (or any library caller) uses to attach rewards."""

from __future__ import annotations

from typing import Any

from rlaif.plugins import Registry
from rlaif.protocols import Reward


def build_reward(
    name: str, options: dict[str, Any] | None, registry: Registry, source: str | None = None
) -> Reward:
    """Look ``name`` up in ``registry``, validate ``options`` against its schema, build it.

    Unknown names raise :class:`~rlaif.errors.RlaifError` with the available names and a did-you-mean;
    invalid options raise one with every schema violation listed. ``source`` (e.g. ``constitution.yaml:
    principles[2].rewards[0]``) prefixes the unknown-name message so the user knows which file to fix.
    """
    registration = registry.get("rewards", name, source)
    reward = registration.factory(registration.require_valid_options(options, "options"))
    if not hasattr(reward, "__name__"):
        try:
            reward.__name__ = name  # TRL logs rewards by __name__
        except (AttributeError, TypeError):
            pass
    return reward
