"""Built-in optimizers, registered through ``register_optimizers``."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl


@hookimpl
def register_optimizers(register):
    """Built-in optimizers are added here."""
