"""Built-in verifiable rewards (format rules), registered through ``register_rewards``."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl


@hookimpl
def register_rewards(register):
    """Built-in rewards are added here."""
