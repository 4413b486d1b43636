"""The ``rlaif`` command line: a click group whose commands come from the ``register_commands`` hook.

Commands are thin: they parse options, call the library and print. Every :class:`~rlaif.errors.RlaifError`
becomes a short message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from rlaif import __version__
from rlaif.errors import RlaifError


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same clean stop as Ctrl-C (journal intact, lock released, resume hint)."""

    signal_name = "SIGTERM"


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


class RlaifGroup(click.Group):
    """Turns user errors into one clean paragraph and exit code 2, and interrupts into a resume hint."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["rlaif.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        previous = _install_sigterm_handler()
        try:
            return super().invoke(ctx)
        except RlaifError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)
        except OSError as error:  # the environment refused (disk full, permissions, ...): no traceback
            where = f"{error.filename}: " if error.filename else ""
            click.echo(f"Error: {where}{error.strerror or error}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt as interrupt:
            import shlex

            what = getattr(interrupt, "signal_name", None) or "Ctrl-C"
            command = shlex.join(["rlaif", *ctx.meta.get("rlaif.argv", [])])
            click.echo(
                f"Interrupted ({what}). Finished work is saved; to resume, re-run the same command:\n  {command}",
                err=True,
            )
            ctx.exit(143 if isinstance(interrupt, Terminated) else 130)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _install_sigterm_handler() -> object | None:
    """SIGTERM -> :class:`Terminated`, so ``finally`` blocks run (signals can only be set on the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


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

        \b
        Plugins: installed ones load automatically; RLAIF_PLUGINS=mod1,mod2 adds modules by import
        path, RLAIF_LOAD_PLUGINS=a,b loads only those installed plugins (empty: none),
        RLAIF_DISABLE_PLUGINS=a,b skips some.
        """

    from rlaif.plugins import load_registry

    try:
        registry = load_registry()
    except RlaifError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    registry.manager.hook.register_commands(cli=cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    build_cli()(args=argv, prog_name="rlaif")
