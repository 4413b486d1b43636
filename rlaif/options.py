"""Typed plugin options: one dataclass is the source of the JSON Schema, the defaults, the docs and the checks.

A built-in plugin declares its options the way TRL declares its configs, as a dataclass whose fields carry
``metadata={"help": ...}`` (and optional JSON Schema keywords)::

    @dataclass
    class DPOOptions(TrainerOptions):
        beta: float = option(0.1, "KL strength of DPO.", exclusiveMinimum=0)

and registers with ``register("dpo", factory, options=DPOOptions)``. :func:`options_schema` turns the class into
the JSON Schema that ``rlaif config check`` validates against, ``rlaif plugins --json`` documents and the docs
tables show, so they cannot drift apart. Dataclasses rather than pydantic: TRL and transformers configure
themselves this way, the standard library needs no extra dependency, and the schema we generate is plain JSON
Schema, which third-party plugins may keep writing by hand (``options_schema=``).

Factories still receive a plain mapping with every default filled in (:func:`fill_schema_defaults`), so a
third-party plugin's factory works the same whether its options are typed or not; typed plugins turn it back
into their dataclass with :func:`from_mapping`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import operator
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from rlaif.errors import RlaifError

_MISSING = dataclasses.MISSING


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""``option(UNSET, ...)``: an optional option with no default, because the plugin derives its value when it is
absent (from other options, the principle, the environment: its help says how). It is neither required nor
filled in, so "absent" stays distinguishable from any value; the field reads ``None`` in the dataclass, and
its schema accepts the hint's type without ``null`` (``int | None`` -> ``integer``)."""


def option(default: Any = _MISSING, help: str = "", *, factory: Any = None, **schema: Any) -> Any:
    """A dataclass field with its help text and extra JSON Schema keywords (``minimum``, ``enum``, ...).

    ``schema`` may also hold ``schema=`` (a full JSON Schema replacing the generated one) for shapes a type hint
    cannot say (e.g. "a list of member judges"). No ``default``: a required option; :data:`UNSET`: an optional
    one without a default.
    """
    metadata = {"help": help, "schema": schema}
    if default is UNSET:
        return dataclasses.field(default=None, metadata={**metadata, "unset": True})
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    if default is _MISSING:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def _type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one type hint (scalars, Optional/unions, Literal, list, dict, nested dataclasses)."""
    if hint is Any:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if dataclasses.is_dataclass(hint):
        return options_schema(hint)
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        parts = [_type_schema(arg) for arg in args]
        if all(set(part) == {"type"} and isinstance(part["type"], str) for part in parts):
            return {"type": [part["type"] for part in parts]}
        return {"anyOf": parts}
    if origin in (list, tuple, typing.Sequence):
        item = args[0] if args else Any
        return {"type": "array", "items": _type_schema(item)} if item is not Any else {"type": "array"}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if hint is list:
        return {"type": "array"}
    raise TypeError(f"no JSON Schema for the type hint {hint!r}; give the field schema=...")


def _without_none(hint: Any) -> Any:
    """``X | None`` -> ``X`` (an :data:`UNSET` option is left out, never given as null)."""
    if get_origin(hint) not in (Union, types.UnionType):
        return hint
    rest = [arg for arg in get_args(hint) if arg is not type(None)]
    return functools.reduce(operator.or_, rest)


def _is_unset(field: dataclasses.Field) -> bool:
    return bool(field.metadata.get("unset"))


def _field_default(field: dataclasses.Field) -> Any:
    if _is_unset(field):
        return _MISSING
    if field.default is not _MISSING:
        value = field.default
    elif field.default_factory is not _MISSING:  # type: ignore[misc]
        value = field.default_factory()  # type: ignore[misc]
    else:
        return _MISSING
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def options_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of an options dataclass: types, defaults, ``help`` as description, extra keywords."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required = []
    for field in dataclasses.fields(cls):
        extra = dict(field.metadata.get("schema") or {})
        hint = _without_none(hints[field.name]) if _is_unset(field) else hints[field.name]
        prop = extra.pop("schema", None) or _type_schema(hint)
        prop = {**copy.deepcopy(prop), **extra}
        default = _field_default(field)
        if default is not _MISSING:
            prop["default"] = default
        elif not _is_unset(field):
            required.append(field.name)
        if field.metadata.get("help"):
            prop["description"] = " ".join(field.metadata["help"].split())
        properties[field.name] = prop
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        schema["description"] = cls.__doc__.strip().split("\n")[0]
    return schema


def defaults(cls: type) -> dict[str, Any]:
    """Every field's default as a plain mapping (required and :data:`UNSET` fields have none)."""
    return {
        field.name: _field_default(field)
        for field in dataclasses.fields(cls)
        if _field_default(field) is not _MISSING
    }


def from_mapping(cls: type, options: dict[str, Any] | None) -> Any:
    """The dataclass from an (already validated) options mapping; missing keys take their defaults."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if options is None or field.name not in options:
            continue
        value = options[field.name]
        nested = _nested_dataclass(hints[field.name])
        if nested is not None and isinstance(value, dict):
            value = from_mapping(nested, value)
        values[field.name] = value
    return cls(**values)


def _nested_dataclass(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    for arg in get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg  # type: ignore[return-value]
    return None


def fill_schema_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """Fill ``default`` values from a JSON Schema into ``instance`` (objects only, recursively).

    Works for generated and hand-written schemas alike; ``$ref`` to ``#/$defs/...`` is followed.
    """
    root = root if root is not None else schema
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    if not isinstance(instance, dict):
        return instance
    if schema.get("type") != "object":
        for alternative in schema.get("anyOf", []) + schema.get("oneOf", []):
            if isinstance(alternative, dict) and alternative.get("type") == "object":
                return fill_schema_defaults(instance, alternative, root)
        return instance
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            instance[key] = fill_schema_defaults(instance[key], sub, root)
    return instance


def parse_option_strings(items: tuple[str, ...] | list[str], flag: str = "--option") -> dict[str, Any]:
    """``("beta=0.2", "lora={r: 8}")`` -> ``{"beta": 0.2, "lora": {"r": 8}}``: each value is YAML (so JSON too).

    ``key=@file.json`` (or ``.yaml``) reads the value from a file (handy for ``json-schema``'s ``schema``).
    The one parser behind every command's repeatable ``--option KEY=VALUE``.
    """
    import yaml

    from rlaif.files import load_yaml_text

    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RlaifError(f"{flag} '{item}': expected KEY=VALUE (e.g. {flag} beta=0.2)")
        if value.startswith("@"):
            from rlaif.files import load_yaml_file

            try:
                options[key.strip()] = load_yaml_file(value[1:], f"{flag} {key.strip()} file")
            except RlaifError as error:
                raise RlaifError(
                    f"{flag} {key.strip()}: {error.message}", error.problems, error.hint
                ) from None
            continue
        try:
            options[key.strip()] = load_yaml_text(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise RlaifError(
                f"{flag} '{item}': the value is not valid YAML ({problem}); quote strings with spaces"
            ) from None
    return options
