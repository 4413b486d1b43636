"""The options reference (``docs/options.md``), rendered from the registry so the docs cannot drift.

Every built-in plugin's options schema (generated from its options dataclass, :mod:`rlaif.options`) becomes one
Markdown table: option, type (with bounds), default, description. The tables sit between two marker lines in
``docs/options.md``; the prose around them is hand-written and kept. ``tests/test_options_docs.py`` fails when
the file is out of date, and this module rewrites it::

    python -m rlaif.options_docs            # rewrite docs/options.md and rlaif/schemas/run-config.schema.json
    python -m rlaif.options_docs --check    # exit 1 if either is out of date

Only the built-ins are documented (entry-point plugins document themselves), so the output does not depend on
what else is installed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from rlaif.plugins import KIND_NOUNS, KINDS, Registration, Registry, make_manager

BEGIN = "<!-- BEGIN GENERATED OPTIONS: python -m rlaif.options_docs -->"
END = "<!-- END GENERATED OPTIONS -->"

DOCS_FILE = Path(__file__).resolve().parent.parent / "docs" / "options.md"
"""Where the reference lives in a source checkout (next to the package)."""

KIND_TITLES = {
    "models": "Model backends (`models.<role>.options`)",
    "judges": "Judges (`judge.options`)",
    "rewards": "Rewards (`options` of a constitution's reward)",
    "optimizers": "Optimizers (`optimizer.options`)",
}

_LONG_DEFAULT = 48
"""Defaults longer than this (prompt templates) are shown by their start; the schema holds them whole."""


def builtin_registry() -> Registry:
    """A registry of the built-in plugins alone (no entry points, no ``$RLAIF_PLUGINS``)."""
    manager, broken = make_manager(only=[])
    return Registry(manager, broken)


def _prose(text: str) -> str:
    """``<model>`` shown as written rather than taken for an HTML tag."""
    return re.sub(r"<(?=[A-Za-z/!])", "&lt;", text)


def _cell(text: str) -> str:
    """Text safe in a table cell: no pipes or line breaks."""
    return _prose(text.replace("|", "\\|").replace("\n", " "))


def _code(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > _LONG_DEFAULT or "\\n" in text:
        text = text.split("\\n")[0][:_LONG_DEFAULT].rstrip() + "…"
    return "`" + text.replace("|", "\\|") + "`"


def _bounds(prop: dict[str, Any]) -> list[str]:
    parts = []
    for key, sign in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in prop:
            parts.append(f"{sign} {prop[key]}")
    if "minItems" in prop and prop.get("minItems") == prop.get("maxItems"):
        parts.append(f"{prop['minItems']} items")
    else:
        if "minItems" in prop:
            parts.append(f">= {prop['minItems']} items")
        if "maxItems" in prop:
            parts.append(f"<= {prop['maxItems']} items")
    if "minLength" in prop:
        parts.append(f"length >= {prop['minLength']}")
    return parts


def type_text(prop: dict[str, Any]) -> str:
    """A JSON Schema property in words: ``integer >= 1``, ``one of `a`, `b```, ``array of number``."""
    if "enum" in prop:
        words = "one of " + ", ".join(f"`{json.dumps(value)}`" for value in prop["enum"])
    elif "anyOf" in prop or "oneOf" in prop:
        words = " or ".join(type_text(part) for part in prop.get("anyOf", prop.get("oneOf")))
    else:
        kind = prop.get("type", "any")
        words = " or ".join(kind) if isinstance(kind, list) else kind
        items = prop.get("items")
        if kind == "array" and isinstance(items, dict) and items:
            words = f"array of {type_text(items)}"
        elif kind == "object" and "name" in (prop.get("properties") or {}):
            words = "object {" + ", ".join(prop["properties"]) + "}"
    bounds = _bounds(prop)
    return f"{words} ({', '.join(bounds)})" if bounds else words


def options_table(schema: dict[str, Any] | None) -> str:
    """One Markdown table of an options schema (or a line saying there are none)."""
    properties = (schema or {}).get("properties") or {}
    if not properties:
        return "No options.\n"
    required = set((schema or {}).get("required") or [])
    lines = ["| option | type | default | description |", "| --- | --- | --- | --- |"]
    for name, prop in properties.items():
        if name in required:
            default = "required"
        elif "default" in prop:
            default = _code(prop["default"])
        else:
            default = "–"
        description = _cell(prop.get("description", ""))
        lines.append(f"| `{name}` | {_cell(type_text(prop))} | {default} | {description} |")
    return "\n".join(lines) + "\n"


def _section(registration: Registration) -> str:
    head = f"### `{registration.name}`\n\n"
    if registration.description:
        head += f"{_prose(registration.description)}\n\n"
    return head + options_table(registration.options_schema)


def run_config_tables() -> list[str]:
    """The run config (``rlaif.yaml``): its top-level keys, then one table per section."""
    from rlaif.settings import run_config_schema

    schema = run_config_schema()
    parts = ["## Run config (`rlaif.yaml`)\n", options_table(schema)]
    for name, prop in schema["properties"].items():
        if prop.get("type") == "object" and prop.get("properties"):
            parts.append(f"### `{name}`\n\n" + options_table(prop))
    return parts


RUN_CONFIG_SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "run-config.schema.json"
"""The run-config schema as a file, for editors and other tools (generated from rlaif.settings)."""


def run_config_schema_text() -> str:
    from rlaif.settings import run_config_schema

    return json.dumps(run_config_schema(), indent=2) + "\n"


def render(registry: Registry | None = None) -> str:
    """The generated part of ``docs/options.md``: the run config, then a heading per kind, a table per built-in
    plugin."""
    registry = registry or builtin_registry()
    parts = run_config_tables()
    for kind in KINDS:
        registrations = [
            registration
            for name, registration in sorted(registry.entries[kind].items())
            if registration.plugin == "rlaif"
        ]
        if not registrations:
            continue
        parts.append(f"## {KIND_TITLES.get(kind, KIND_NOUNS[kind])}\n")
        parts += [_section(registration) for registration in registrations]
    return "\n".join(parts)


def updated(text: str, generated: str) -> str:
    """``text`` with the part between the markers replaced by ``generated`` (markers appended if absent)."""
    block = f"{BEGIN}\n\n{generated.rstrip()}\n\n{END}"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        return before + block + after
    return text.rstrip() + ("\n\n" if text.strip() else "") + block + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite ``docs/options.md`` (or, with ``--check``, exit 1 when it is out of date)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(arg in ("-h", "--help") for arg in args):
        print(__doc__)
        return 0
    unknown = [arg for arg in args if arg.startswith("-") and arg != "--check"]
    if unknown:
        print(
            f"unknown option {unknown[0]}; usage: python -m rlaif.options_docs [--check] [FILE]",
            file=sys.stderr,
        )
        return 2
    check = "--check" in args
    path = Path(next((a for a in args if a != "--check"), DOCS_FILE))
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    outputs = [(path, current, updated(current, render()))]
    if path == DOCS_FILE:  # the shipped checkout: its schema file too
        schema_file = RUN_CONFIG_SCHEMA_FILE
        old_schema = schema_file.read_text(encoding="utf-8") if schema_file.exists() else ""
        outputs.append((schema_file, old_schema, run_config_schema_text()))
    stale = False
    for target, old, new in outputs:
        if old == new:
            print(f"{target}: up to date")
        elif check:
            print(f"{target}: out of date; run: python -m rlaif.options_docs", file=sys.stderr)
            stale = True
        else:
            target.write_text(new, encoding="utf-8")
            print(f"{target}: written")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
