"""The core commands (run, generate, train, plugins, init, checks), registered through ``register_commands``."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    """Core commands are added here."""
