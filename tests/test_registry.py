"""The one registry: env and config plugin modules, disabling, replacing, unknown schemes, passed explicitly."""

from __future__ import annotations

import json
import sys
import types
import warnings

import pytest
import yaml
from click.testing import CliRunner

from rlaif import hookimpl
from rlaif.cli import build_cli
from rlaif.errors import RlaifError
from rlaif.models import split_spec
from rlaif.plugins import load_registry


def write_config(tmp_path, **fields):
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(fields), encoding="utf-8")
    return path


def test_env_plugin_backend_is_seen_by_plugins_config_check_and_run(tmp_path, monkeypatch):
    monkeypatch.setenv("RLAIF_PLUGINS", "tests.echo_plugin")
    runner = CliRunner()
    listing = runner.invoke(build_cli(), ["plugins"]).output
    assert "echo" in listing
    config = write_config(
        tmp_path,
        models={"policy": "echo:x"},
        train=False,
        max_prompts=2,
        output_dir=str(tmp_path / "run"),
    )
    result = runner.invoke(build_cli(), ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(build_cli(), ["generate", str(config), "-q"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "run" / "round-1" / "records.jsonl").open()]
    assert len(records) == 2
    assert all(record["models"]["policy"] == "echo:x" for record in records)
    assert all(record["original"].startswith("echo:x says:") for record in records)


def test_unknown_scheme_is_reported_as_an_unknown_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("RLAIF_PLUGINS", raising=False)
    config = write_config(tmp_path, models={"policy": "ecko:x"}, train=False)
    result = CliRunner().invoke(build_cli(), ["config", "check", str(config)])
    assert result.exit_code == 2
    assert "unknown model backend 'ecko'" in result.output and "openai" in result.output
    assert "not found" not in result.output  # not mistaken for a missing model directory
    monkeypatch.setenv("RLAIF_PLUGINS", "tests.echo_plugin")
    with pytest.raises(RlaifError, match="did you mean 'echo'"):
        split_spec("ecko:x", load_registry())


def test_local_paths_and_hub_ids_are_not_schemes(tmp_path):
    registry = load_registry()
    assert split_spec("org/model", registry) == ("hf", "org/model")
    model_dir = tmp_path / "a:b"
    model_dir.mkdir()
    assert split_spec(str(model_dir), registry)[0] == "hf"
    assert split_spec("embedded", registry) == ("embedded", "")


def _plugin(name: str, judge_name: str):
    module = types.ModuleType(name)

    def factory(options, context):
        """A replacement judge."""

    @hookimpl
    def register_judges(register):
        register(judge_name, factory)

    module.register_judges = register_judges
    return module


def test_replacing_a_builtin_warns_and_is_shown(monkeypatch):
    monkeypatch.setitem(sys.modules, "replacer_plugin", _plugin("replacer_plugin", "pairwise"))
    monkeypatch.setenv("RLAIF_PLUGINS", "replacer_plugin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = load_registry(["replacer_plugin"])
    assert any("replaces the judge 'pairwise'" in str(w.message) for w in caught)
    registration = registry.get("judges", "pairwise")
    assert registration.plugin == "replacer_plugin" and registration.replaces == "rlaif"
    listing = CliRunner().invoke(build_cli(), ["plugins"]).output
    assert "[replaces rlaif's]" in listing


def test_load_and_disable_limit_entry_point_plugins(monkeypatch):
    assert "math" in load_registry().names("rewards")  # the rlaif-math plugin is installed
    monkeypatch.setenv("RLAIF_DISABLE_PLUGINS", "math")
    assert "math" not in load_registry().names("rewards")
    monkeypatch.delenv("RLAIF_DISABLE_PLUGINS")
    monkeypatch.setenv("RLAIF_LOAD_PLUGINS", "")
    names = load_registry().names("rewards")
    assert "math" not in names and "code" not in names and "length" in names  # built-ins always load
    monkeypatch.setenv("RLAIF_LOAD_PLUGINS", "code")
    names = load_registry().names("rewards")
    assert "code" in names and "math" not in names


def test_config_carries_its_own_plugins(tmp_path, monkeypatch):
    monkeypatch.delenv("RLAIF_PLUGINS", raising=False)
    from rlaif import load_config

    config = load_config(write_config(tmp_path, plugins=["tests.echo_plugin"], models={"policy": "echo:y"}))
    assert "echo" in config.registry.names("models")
    assert "echo" not in load_registry().names("models")
    model = config.model_pool().model("policy")
    assert model.name == "echo:y"


def test_public_api_imports_and_builds_by_name():
    from rlaif import build_reward, load_config, load_constitution, run  # noqa: F401

    reward = build_reward("length", {"max": 3})
    assert reward(None, ["one two", "one two three four"]) == [1.0, 0.0]
    assert load_constitution("helpful-harmless").principles


def test_the_lazy_package_face_and_the_api_module_list_the_same_names():
    import rlaif
    import rlaif.api

    assert set(rlaif.__all__) - {"__version__", "hookimpl"} == set(rlaif.api.__all__)
    assert all(getattr(rlaif, name) is getattr(rlaif.api, name) for name in rlaif.api.__all__)
