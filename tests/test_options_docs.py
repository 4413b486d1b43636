"""docs/options.md and ``rlaif plugins --json`` come from the registry, so they cannot drift from the code."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.hookspecs import hookimpl
from rlaif.options import UNSET, option, options_schema
from rlaif.options_docs import BEGIN, END, builtin_registry, main, options_table, render, type_text, updated
from rlaif.plugins import KINDS, load_registry

DOCS = Path(__file__).resolve().parent.parent / "docs" / "options.md"


def test_docs_options_md_is_up_to_date_with_the_registry() -> None:
    current = DOCS.read_text(encoding="utf-8")
    assert BEGIN in current and END in current
    assert updated(current, render()) == current, (
        "docs/options.md is out of date with the plugins' options; run: python -m rlaif.options_docs"
    )


def test_every_builtin_option_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    registry = builtin_registry()
    for kind in KINDS:
        for name, registration in registry.entries[kind].items():
            section = text.split(f"### `{name}`\n", 1)
            assert len(section) == 2, f"{kind} {name} has no section"
            body = section[1].split("\n### ", 1)[0]
            for option_name in (registration.options_schema or {}).get("properties", {}):
                assert f"| `{option_name}` |" in body, f"{kind} {name}: option {option_name} not documented"


@dataclass(kw_only=True)
class _Opts:
    """Options of a test plugin."""

    path: str = option(help="Where | it is.")
    rate: float = option(0.5, "A rate.", exclusiveMinimum=0, maximum=1)
    mode: Literal["a", "b"] = option("a", "Pick one\nof two.")
    ramp: float | None = option(UNSET, "Derived when absent.")
    prompt: str = option("Line one of a long prompt template that goes on and on.\nLine two.", "A template.")
    pair: list[float] = option([0.4, 0.6], "Two numbers.", minItems=2, maxItems=2)


def test_options_table_renders_types_bounds_defaults_and_escapes() -> None:
    table = options_table(options_schema(_Opts))
    lines = table.splitlines()
    assert lines[0] == "| option | type | default | description |"
    rows = {line.split(" | ")[0].strip("| `"): line for line in lines[2:]}
    assert rows["path"] == "| `path` | string | required | Where \\| it is. |"
    assert rows["rate"] == "| `rate` | number (> 0, <= 1) | `0.5` | A rate. |"
    assert rows["mode"] == '| `mode` | one of `"a"`, `"b"` | `"a"` | Pick one of two. |'
    assert rows["ramp"] == "| `ramp` | number | – | Derived when absent. |"
    assert '`"Line one of a long prompt template that goes on…`' in rows["prompt"]
    assert "Line two" not in rows["prompt"]
    assert rows["pair"] == "| `pair` | array of number (2 items) | `[0.4, 0.6]` | Two numbers. |"
    assert options_table({"type": "object"}) == "No options.\n"
    assert options_table(None) == "No options.\n"


def test_type_text_of_hand_written_schemas() -> None:
    assert type_text({"type": ["integer", "null"], "minimum": 1}) == "integer or null (>= 1)"
    assert type_text({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}) == (
        "string or array of string"
    )
    assert type_text({}) == "any"


def test_updated_replaces_only_the_generated_block() -> None:
    text = f"# Title\n\nProse.\n\n{BEGIN}\n\nold tables\n\n{END}\n\nMore prose.\n"
    new = updated(text, "new tables\n")
    assert new == f"# Title\n\nProse.\n\n{BEGIN}\n\nnew tables\n\n{END}\n\nMore prose.\n"
    assert updated(new, "new tables\n") == new
    assert updated("", "tables") == f"{BEGIN}\n\ntables\n\n{END}\n"
    assert updated("# Hand-written\n", "t").startswith("# Hand-written\n\n" + BEGIN)


def test_main_checks_and_rewrites_a_file(tmp_path, capsys) -> None:
    target = tmp_path / "options.md"
    target.write_text(f"# Options\n\n{BEGIN}\nstale\n{END}\n", encoding="utf-8")
    assert main(["--check", str(target)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main([str(target)]) == 0
    written = target.read_text(encoding="utf-8")
    assert written.startswith("# Options\n\n") and "### `pairwise`" in written and "stale" not in written
    assert main(["--check", str(target)]) == 0


def test_render_shows_a_changed_option() -> None:
    registry = builtin_registry()  # a fresh registry: changing it touches no other
    before = render(registry)
    registration = registry.entries["rewards"]["length"]
    schema = json.loads(json.dumps(registration.options_schema))
    schema["properties"]["min"]["default"] = 7
    registration.options_schema = schema
    after = render(registry)
    assert before != after and "| `min` | integer (>= 0) | `7` |" in after
    assert "| `min` | integer (>= 0) | `0` |" in render(builtin_registry())


def test_plugins_json_shows_each_options_schema(monkeypatch) -> None:
    module = types.ModuleType("typed_and_plain_plugin")

    @hookimpl
    def register_rewards(register):
        register("typed-reward", lambda options: None, description="typed", options=_Opts)
        register(
            "plain-reward",
            lambda options: None,
            description="plain",
            options_schema={"type": "object", "properties": {"k": {"type": "integer", "default": 2}}},
        )

    module.register_rewards = register_rewards
    monkeypatch.setitem(sys.modules, "typed_and_plain_plugin", module)
    monkeypatch.setenv("RLAIF_PLUGINS", "typed_and_plain_plugin")
    result = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listing = {plugin["name"]: plugin for plugin in json.loads(result.output)}
    mine = {entry["name"]: entry for entry in listing["typed_and_plain_plugin"]["registers"]["rewards"]}
    assert mine["typed-reward"]["options_schema"] == options_schema(_Opts)
    assert mine["plain-reward"]["options_schema"]["properties"]["k"]["default"] == 2
    judges = {entry["name"]: entry for entry in listing["rlaif"]["registers"]["judges"]}
    assert judges["pairwise"]["options_schema"] == load_registry().get("judges", "pairwise").options_schema
    assert judges["pairwise"]["options_schema"]["properties"]["both_orders"]["default"] is True


def test_the_shipped_run_config_schema_file_is_generated_from_the_settings() -> None:
    from rlaif.options_docs import RUN_CONFIG_SCHEMA_FILE, run_config_schema_text

    assert RUN_CONFIG_SCHEMA_FILE.read_text(encoding="utf-8") == run_config_schema_text(), (
        "rlaif/schemas/run-config.schema.json is out of date with rlaif/settings.py; run: python -m rlaif.options_docs"
    )
    text = DOCS.read_text(encoding="utf-8")
    assert "## Run config (`rlaif.yaml`)" in text and "### `pairs`" in text


def test_typed_settings_view_matches_the_raw_config() -> None:
    from rlaif import load_config

    config = load_config()
    settings = config.settings
    assert settings.judge.margin == config["judge"]["margin"]
    assert settings.critique.max_new_tokens == 64 and settings.generation.temperature == 0.7
    assert settings.models.policy == "embedded" and config.optimizer_stages()[0]["options"]["beta"] == 0.1
