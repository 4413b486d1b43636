"""rlaif.options: one dataclass gives the JSON Schema, the defaults and the typed object; one --option parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import jsonschema
import pytest

from rlaif.errors import RlaifError
from rlaif.options import (
    UNSET,
    defaults,
    fill_schema_defaults,
    from_mapping,
    option,
    options_schema,
    parse_option_strings,
)


@dataclass
class Lora:
    """LoRA settings."""

    r: int = option(16, "Rank.", minimum=1)
    alpha: float = option(32.0, "Scale.")


@dataclass(kw_only=True)
class Example:
    """Options of an example plugin.

    Only the first line becomes the schema's description.
    """

    name: str = option(help="Required: no default.")
    beta: float = option(0.1, "KL strength.", exclusiveMinimum=0)
    steps: int = option(-1)
    flag: bool = option(False, "A switch.")
    mode: Literal["mean", "vote"] = option("mean", "How to combine.")
    limit: int | None = option(None, "Optional cap.", minimum=0)
    tags: list[str] = option(["a"], "Labels.")
    weights: list[float] | None = option(UNSET, "Derived from the members when absent.", minItems=1)
    extra: dict[str, Any] = option({}, "Passed through.")
    lora: Lora | None = option(None, "LoRA; null = full fine-tune.")
    nested: Lora = option(factory=Lora, help="Always on.")
    anything: Any = option(0, "Any JSON value.")
    custom: list[Any] = option(
        [], "A hand-written shape.", schema={"type": "array", "items": {"type": "string"}}
    )


def test_type_hints_become_json_schema_types() -> None:
    props = options_schema(Example)["properties"]
    assert props["name"] == {"type": "string", "description": "Required: no default."}
    assert props["beta"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 0.1,
        "description": "KL strength.",
    }
    assert props["steps"] == {"type": "integer", "default": -1}  # no help: no description
    assert props["flag"]["type"] == "boolean"
    assert props["mode"]["enum"] == ["mean", "vote"] and "type" not in props["mode"]
    assert props["limit"]["type"] == ["integer", "null"] and props["limit"]["minimum"] == 0
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "default": ["a"],
        "description": "Labels.",
    }
    assert props["extra"]["type"] == "object" and props["extra"]["default"] == {}
    assert props["anything"] == {"default": 0, "description": "Any JSON value."}
    assert props["custom"]["items"] == {"type": "string"}


def test_nested_dataclasses_are_objects_with_their_own_schema_and_defaults() -> None:
    props = options_schema(Example)["properties"]
    lora_object = options_schema(Lora)
    assert props["lora"]["anyOf"] == [lora_object, {"type": "null"}]
    assert props["lora"]["default"] is None
    assert props["nested"]["type"] == "object" and props["nested"]["additionalProperties"] is False
    assert props["nested"]["default"] == {"r": 16, "alpha": 32.0}
    assert lora_object["properties"]["r"] == {
        "type": "integer",
        "minimum": 1,
        "default": 16,
        "description": "Rank.",
    }


def test_required_unset_and_closed_objects() -> None:
    schema = options_schema(Example)
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert schema["description"] == "Options of an example plugin."
    weights = schema["properties"]["weights"]
    # UNSET: neither required nor defaulted, and null is not a value (absent is how one says "derive it")
    assert "default" not in weights and weights["type"] == "array" and weights["minItems"] == 1
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors({"name": "x"}))
    assert list(validator.iter_errors({"name": "x", "weights": None}))
    assert list(validator.iter_errors({"name": "x", "typo": 1}))
    assert list(validator.iter_errors({}))  # name is required
    assert list(validator.iter_errors({"name": "x", "beta": 0}))  # exclusiveMinimum
    assert list(validator.iter_errors({"name": "x", "mode": "median"}))
    assert not list(validator.iter_errors({"name": "x", "lora": {"r": 4}}))
    assert list(validator.iter_errors({"name": "x", "lora": {"rank": 4}}))


def test_a_dataclass_without_docstring_gets_no_description() -> None:
    @dataclass
    class Bare:
        x: int = option(1)

    assert "description" not in options_schema(Bare)


def test_a_type_hint_without_a_json_schema_asks_for_schema() -> None:
    @dataclass
    class Odd:
        x: complex = option(1j)

    with pytest.raises(TypeError, match="schema="):
        options_schema(Odd)


def test_defaults_leave_out_required_and_unset_options_and_copy_mutables() -> None:
    values = defaults(Example)
    assert "name" not in values and "weights" not in values
    assert values["beta"] == 0.1 and values["limit"] is None and values["nested"] == {"r": 16, "alpha": 32.0}
    values["tags"].append("b")
    assert defaults(Example)["tags"] == ["a"]
    first, second = Example(name="a"), Example(name="b")
    first.tags.append("z")
    assert second.tags == ["a"]


def test_from_mapping_builds_the_dataclass_and_nested_ones() -> None:
    built = from_mapping(Example, {"name": "n", "beta": 0.5, "lora": {"r": 4}, "nested": {"alpha": 1.0}})
    assert built.name == "n" and built.beta == 0.5 and built.steps == -1
    assert built.lora == Lora(r=4, alpha=32.0)
    assert built.nested == Lora(r=16, alpha=1.0)
    assert built.weights is None  # UNSET reads None in Python
    assert from_mapping(Lora, None) == Lora()
    assert from_mapping(Example, {"name": "n", "lora": None}).lora is None


def test_fill_schema_defaults_fills_nested_objects_and_keeps_given_values() -> None:
    schema = options_schema(Example)
    filled = fill_schema_defaults({"name": "n", "beta": 0.3, "nested": {"r": 2}}, schema)
    assert filled["beta"] == 0.3 and filled["steps"] == -1 and filled["tags"] == ["a"]
    assert filled["nested"] == {"r": 2, "alpha": 32.0}  # a given object gets its own missing defaults
    assert "weights" not in filled and filled["lora"] is None
    # through anyOf: the object alternative's defaults are filled into a given object
    assert fill_schema_defaults({"name": "n", "lora": {"r": 8}}, schema)["lora"] == {"r": 8, "alpha": 32.0}
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(filled))
    # defaults are copies: filling twice does not share a list
    again = fill_schema_defaults({"name": "m"}, schema)
    again["tags"].append("b")
    assert fill_schema_defaults({"name": "k"}, schema)["tags"] == ["a"]


def test_fill_schema_defaults_follows_refs_and_ignores_non_objects() -> None:
    schema = {
        "type": "object",
        "$defs": {"lora": {"type": "object", "properties": {"r": {"type": "integer", "default": 16}}}},
        "properties": {
            "lora": {"$ref": "#/$defs/lora"},
            "choice": {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/lora"}]},
            "n": {"type": "integer", "default": 3},
        },
    }
    filled = fill_schema_defaults({"lora": {}}, schema)
    assert filled == {"lora": {"r": 16}, "n": 3}
    assert fill_schema_defaults({"choice": "text"}, schema)["choice"] == "text"
    assert fill_schema_defaults("not a mapping", schema) == "not a mapping"


def test_parse_option_strings_reads_yaml_values() -> None:
    parsed = parse_option_strings(
        ["beta=0.2", "lora={r: 8}", "name=plain text", "on=true", "list=[1, 2]", "e="]
    )
    assert parsed == {
        "beta": 0.2,
        "lora": {"r": 8},
        "name": "plain text",
        "on": True,
        "list": [1, 2],
        "e": None,
    }
    assert parse_option_strings([" key = 1"]) == {"key": 1}  # the key is stripped
    assert parse_option_strings(["url=http://x:8/v1"]) == {
        "url": "http://x:8/v1"
    }  # only the first '=' splits
    assert parse_option_strings([]) == {}


def test_parse_option_strings_reads_at_files(tmp_path) -> None:
    (tmp_path / "schema.json").write_text('{"type": "object", "required": ["a"]}', encoding="utf-8")
    (tmp_path / "opts.yaml").write_text("r: 8\ntargets: [q, v]\n", encoding="utf-8")
    parsed = parse_option_strings([f"schema=@{tmp_path / 'schema.json'}", f"lora=@{tmp_path / 'opts.yaml'}"])
    assert parsed == {
        "schema": {"type": "object", "required": ["a"]},
        "lora": {"r": 8, "targets": ["q", "v"]},
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("beta", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("lora={r: 8", "not valid YAML"),
        ("x=@missing-file.json", "not found"),
    ],
)
def test_parse_option_strings_bad_input_is_a_clear_error(item: str, message: str) -> None:
    with pytest.raises(RlaifError, match=message) as info:
        parse_option_strings([item], flag="--reward-option")
    if "KEY=VALUE" in message:
        assert "--reward-option" in str(info.value)


def test_parse_option_strings_bad_yaml_in_an_at_file_names_the_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(RlaifError, match="bad.yaml") as info:
        parse_option_strings([f"schema=@{bad}"])
    assert "schema" in str(info.value)


def test_unset_drops_only_null_from_a_union() -> None:
    @dataclass
    class Several:
        key: int | str | None = option(UNSET, "A number or a name; derived when absent.")

    assert options_schema(Several)["properties"]["key"] == {
        "type": ["integer", "string"],
        "description": "A number or a name; derived when absent.",
    }
    assert options_schema(Several).get("required") is None
