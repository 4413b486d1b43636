import json
import sys
import types

from click.testing import CliRunner

from rlaif import hookimpl
from rlaif.cli import build_cli
from rlaif.plugins import load_registry


def test_builtins_register_through_the_same_hooks():
    registry = load_registry()
    assert "pairwise" in registry.names("judges")
    assert "dpo" in registry.names("optimizers")
    assert {"embedded", "hf"} <= set(registry.names("models"))
    assert registry.entries["judges"]["pairwise"].plugin == "rlaif"


def test_extra_module_plugin_registers_a_judge_and_a_command(monkeypatch):
    module = types.ModuleType("my_rlaif_plugin")

    def make_judge(options, context):
        """Always prefers a."""

    @hookimpl
    def register_judges(register):
        register("always-a", make_judge)

    import click

    @click.command("hello")
    def hello():
        click.echo("hello from plugin")

    @hookimpl
    def register_commands(cli):
        cli.add_command(hello)

    module.register_judges = register_judges
    module.register_commands = register_commands
    monkeypatch.setitem(sys.modules, "my_rlaif_plugin", module)
    registry = load_registry(["my_rlaif_plugin"])
    assert registry.get("judges", "always-a").description == "Always prefers a."
    assert registry.get("judges", "always-a").plugin == "my_rlaif_plugin"

    monkeypatch.setenv("RLAIF_PLUGINS", "my_rlaif_plugin")
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["hello"]).output.strip() == "hello from plugin"
    listing = json.loads(runner.invoke(build_cli(), ["plugins", "--json"]).output)
    mine = next(p for p in listing if p["name"] == "my_rlaif_plugin")
    assert mine["registers"]["judges"][0]["name"] == "always-a"


def test_unknown_names_list_what_exists():
    import pytest

    from rlaif.errors import RlaifError

    with pytest.raises(RlaifError) as info:
        load_registry().get("optimizers", "dpoo")
    assert "did you mean 'dpo'" in str(info.value) and "available: " in str(info.value)


def test_plugins_command_lists_builtins():
    result = CliRunner().invoke(build_cli(), ["plugins"])
    assert result.exit_code == 0
    assert "rlaif" in result.output and "pairwise" in result.output and "dpo" in result.output


def test_unimportable_plugin_module_is_a_clean_error(monkeypatch):
    monkeypatch.setenv("RLAIF_PLUGINS", "no_such_module_xyz")
    import pytest

    from rlaif.cli import main

    with pytest.raises(SystemExit) as info:
        main(["plugins"])
    assert info.value.code == 2
