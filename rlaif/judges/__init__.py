"""Built-in judges, registered through ``register_judges``."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl


@hookimpl
def register_judges(register):
    """Built-in judges are added here."""
