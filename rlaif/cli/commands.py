"""The core commands, registered through ``register_commands`` exactly as a plugin's commands would be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from rlaif.errors import RlaifError
from rlaif.files import schema_problems
from rlaif.hookspecs import hookimpl
from rlaif.options import parse_option_strings


def _load(config_path: str | None, output_dir: str | None, max_prompts: int | None, new: bool = False):
    from rlaif.config import load_config

    config = load_config(config_path).with_overrides(output_dir=output_dir, max_prompts=max_prompts)
    if new:
        from rlaif.rundir import fresh_output_dir

        fresh = fresh_output_dir(config.output_dir)
        _echo(f"Starting a fresh run in {fresh}")
        config = config.with_overrides(output_dir=str(fresh))
    return config


def _check_fresh_flags(overwrite: bool, new: bool) -> None:
    if overwrite and new:
        raise RlaifError("--overwrite and --new exclude each other: replace the run, or start one beside it")


_config_arg = click.argument("config", required=False, type=click.Path(dir_okay=False))
_output_opt = click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, writable=True),
    help="Run directory (default: the config's output_dir, runs/default).",
)
_max_opt = click.option(
    "--max-prompts", "-n", type=click.IntRange(min=1), help="Only the first N prompts (try a config quickly)."
)
_overwrite_opt = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an existing run in the output directory instead of resuming it.",
)
_new_opt = click.option(
    "--new",
    is_flag=True,
    help="Start a fresh run in a new sibling directory (runs/default-2, ...) instead of resuming.",
)
_quiet_opt = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


@click.command()
@_config_arg
@_output_opt
@_max_opt
@_overwrite_opt
@_new_opt
@_quiet_opt
def run(
    config: str | None,
    output_dir: str | None,
    max_prompts: int | None,
    overwrite: bool,
    new: bool,
    quiet: bool,
) -> None:
    """Generate preference data with a constitution, then train the policy on it.

    With no CONFIG, runs the embedded default: SmolLM2-135M-Instruct as policy, critic and judge, the
    helpful-harmless constitution, the shipped prompts, and DPO. Re-running the same command resumes.

    \b
    Examples:
      rlaif run
      rlaif run examples/quickstart.yaml --max-prompts 4
    """
    from rlaif.rounds import run as run_pipeline

    _check_fresh_flags(overwrite, new)
    result = run_pipeline(
        _load(config, output_dir, max_prompts, new), overwrite=overwrite, progress=not quiet, echo=_echo
    )
    click.echo(result.summary())


@click.command()
@_config_arg
@_output_opt
@_max_opt
@_overwrite_opt
@_new_opt
@_quiet_opt
def generate(
    config: str | None,
    output_dir: str | None,
    max_prompts: int | None,
    overwrite: bool,
    new: bool,
    quiet: bool,
) -> None:
    """Generate preference pairs only (generate -> critique -> revise -> judge), no training."""
    from rlaif.rounds import run as run_pipeline

    _check_fresh_flags(overwrite, new)
    result = run_pipeline(
        _load(config, output_dir, max_prompts, new),
        train=False,
        overwrite=overwrite,
        progress=not quiet,
        echo=_echo,
    )
    click.echo(result.summary())


def train_stages(
    optimizers: tuple[str, ...], stages: str | None, options: tuple[str, ...]
) -> list[dict[str, Any]]:
    """``rlaif train``'s stages from ``--optimizer`` (repeatable), ``--stages`` and ``--option``."""
    if stages is not None:
        if optimizers or options:
            raise RlaifError("--stages names the optimizers and their options; drop --optimizer and --option")
        value = parse_option_strings((f"stages={stages}",), "--stages")["stages"]
        problems = schema_problems(value, STAGES_SCHEMA, None, ("--stages",))
        if problems:
            raise RlaifError("--stages: expected a list of {name, options}", problems)
        return [{"name": stage["name"], "options": stage.get("options") or {}} for stage in value]
    names = optimizers or ("dpo",)
    if options and len(names) > 1:
        raise RlaifError(
            "--option sets one optimizer's options; with several --optimizer stages it is ambiguous",
            hint="Use --stages '[{name: sft, options: {...}}, {name: dpo, options: {...}}]'.",
        )
    parsed = parse_option_strings(options)
    return [{"name": name, "options": parsed if len(names) == 1 else {}} for name in names]


STAGES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "options": {"type": "object"}},
    },
}


@click.command()
@click.argument("pairs", type=click.Path(exists=True))
@click.option(
    "--policy", default="embedded", show_default=True, help="Model to train: 'embedded' or a local directory."
)
@click.option(
    "--optimizer",
    "optimizers",
    multiple=True,
    help="A registered optimizer (default dpo); repeat it to train stages in order, e.g. "
    "--optimizer sft --optimizer dpo (SL-CAI, then DPO from the SFT checkpoint).",
)
@click.option(
    "--stages",
    metavar="YAML",
    help="Training stages with their options, as a run config's optimizer list: "
    "'[{name: sft, options: {max_steps: 20}}, {name: dpo}]' (or @file.yaml).",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Optimizer option (YAML value), repeatable; one optimizer only (use --stages for several).",
)
@click.option(
    "--output-dir",
    "-o",
    required=True,
    type=click.Path(file_okay=False, writable=True),
    help="Where the checkpoint goes.",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False),
    help="Expert labels (rlaif label's labels.jsonl) that overrule the judge: flips swap chosen/rejected, ties "
    "drop the pair, a labelled AI tie in a records.jsonl becomes a pair.",
)
def train(
    pairs: str,
    policy: str,
    optimizers: tuple[str, ...],
    stages: str | None,
    options: tuple[str, ...],
    output_dir: str,
    seed: int,
    labels: str | None,
) -> None:
    """Train a policy on PAIRS: a JSONL file in TRL preference format (e.g. a run's pairs.jsonl) or a dataset dir.

    Online optimizers (grpo, ppo) take a prompt file instead (JSONL of {"prompt": ...}, as in run configs),
    with their rewards in options: --option 'rewards=[{name: length, options: {max: 20}}]'. sft trains on
    the chosen side of pairs (the revisions, when the file says chosen_source) or on a prompt/completion file.
    Several stages write OUTPUT_DIR/stage-K-NAME/, each starting from the one before; a re-run skips
    finished stages. Under `accelerate launch -m rlaif train ...` every process trains; only rank 0 writes.

    \b
    Examples:
      rlaif train runs/default/round-1/pairs.jsonl -o trained --option beta=0.2 --option max_steps=10
      rlaif train runs/default/round-1/pairs.jsonl -o cai --optimizer sft --optimizer dpo
      rlaif train runs/default/round-1/records.jsonl -o relabelled --labels runs/default/labels.jsonl
    """
    from rlaif.training import is_main_process, train_on_pairs

    result = train_on_pairs(
        pairs,
        output_dir,
        policy,
        seed=seed,
        stages=train_stages(optimizers, stages, options),
        options_source="--option" if stages is None else "--stages",
        labels=labels,
    )
    if not is_main_process():  # under `accelerate launch`, rank 0 reports
        return
    click.echo(f"Checkpoint: {result.checkpoint}")
    click.echo(f"Metrics:    {Path(output_dir) / 'metrics.json'}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
    """List installed plugins, their versions and what each registers."""
    from rlaif.plugins import load_registry

    registry = load_registry()
    infos = registry.plugins()
    if as_json:
        payload = [
            {
                "name": info.name,
                "version": info.version,
                "error": info.error,
                "registers": {
                    kind: [
                        {
                            "name": name,
                            "description": registry.entries[kind][name].description,
                            "replaces": registry.entries[kind][name].replaces,
                            "options_schema": registry.entries[kind][name].options_schema,
                        }
                        for name in sorted(names)
                    ]
                    for kind, names in info.registers.items()
                },
            }
            for info in infos
        ]
        click.echo(json.dumps(payload, indent=2))
        return
    for info in infos:
        click.echo(f"{info.name} {info.version or ''}".rstrip())
        if info.error:
            click.echo(f"  BROKEN: failed to load: {info.error}")
        for kind, names in sorted(info.registers.items()):
            for name in sorted(names):
                entry = registry.entries[kind][name]
                replaced = f" [replaces {entry.replaces}'s]" if entry.replaces else ""
                click.echo(f"  {kind[:-1]:<10} {name:<18} {entry.description}{replaced}")


@click.group()
def constitution() -> None:
    """Work with constitutions."""


@constitution.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path())
def constitution_check(files: tuple[str, ...]) -> None:
    """Validate constitution FILES; lists every problem with its field path (exit 2 if any)."""
    from rlaif.constitution import constitution_problems
    from rlaif.files import load_yaml_mapping

    failed = False
    for file in files:
        try:
            problems = constitution_problems(load_yaml_mapping(file, "constitution"), file)
        except RlaifError as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        if problems:
            failed = True
            click.echo(f"{file}: {len(problems)} problem(s)", err=True)
            for problem in problems:
                click.echo(f"  - {problem}", err=True)
        else:
            click.echo(f"{file}: ok")
    if failed:
        raise click.exceptions.Exit(2)


def _add_learning_commands() -> None:
    from rlaif.constitution_learning.cli import audit, learn

    constitution.add_command(learn)
    constitution.add_command(audit)


_add_learning_commands()


@click.group("config")
def config_group() -> None:
    """Work with run configs."""


@config_group.command("check")
@click.argument("config", required=False, type=click.Path())
def config_check(config: str | None) -> None:
    """Validate CONFIG and everything it refers to (files, plugin names, options) without loading models."""
    from rlaif.config import check_config, load_config

    loaded = load_config(config)
    problems = check_config(loaded)
    if problems:
        click.echo(f"{config or 'default config'}: {len(problems)} problem(s)", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        raise click.exceptions.Exit(2)
    click.echo(f"{config or 'default config'}: ok")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, writable=True))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: str, force: bool) -> None:
    """Write a starter project to DIRECTORY: rlaif.yaml, constitution.yaml and prompts.jsonl to edit."""
    from rlaif.starter import write_starter

    written = write_starter(Path(directory), force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"Next: edit them, then `rlaif config check {Path(directory) / 'rlaif.yaml'}` and `rlaif run {Path(directory) / 'rlaif.yaml'}`."
    )


def _echo(message: str) -> None:
    click.echo(message, err=True)


@hookimpl
def register_commands(cli: click.Group) -> None:
    for command in (run, generate, train, plugins, constitution, config_group, init):
        cli.add_command(command)
