"""The ``rlaif`` command line: a click group whose commands come from the ``register_commands`` hook.

Commands are thin: they parse options, call the library and print. Every :class:`~rlaif.errors.RlaifError`
becomes a short message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from rlaif import __version__
from rlaif.errors import RlaifError


class RlaifGroup(click.Group):
    """Turns user errors into one clean paragraph and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RlaifError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted. Finished work is saved; re-run the same command to resume.", err=True)
            ctx.exit(130)


def extra_plugin_modules() -> list[str]:
    """Plugin modules named in ``$RLAIF_PLUGINS`` (comma-separated import paths)."""
    return [name.strip() for name in os.environ.get("RLAIF_PLUGINS", "").split(",") if name.strip()]


def build_cli() -> click.Group:
    @click.group(cls=RlaifGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="rlaif")
    def cli() -> None:
        """rlaif: write down what success means, generate AI-feedback preference data, train for it.

        \b
        Quick start (embedded tiny model, shipped constitution and prompts):
          rlaif run                      generate -> critique -> revise -> judge -> DPO
          rlaif init my-project          a starter config, constitution and prompts to edit
          rlaif run my-project/rlaif.yaml
          rlaif plugins                  judges, rewards, optimizers and backends installed

        Extra plugin modules can be loaded with RLAIF_PLUGINS=module1,module2.
        """

    from rlaif.plugins import get_registry

    try:
        registry = get_registry(extra_plugin_modules())
    except RlaifError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    registry.manager.hook.register_commands(cli=cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    build_cli()(args=argv, prog_name="rlaif")
