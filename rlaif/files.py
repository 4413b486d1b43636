"""Reading user files safely and writing run files durably.

Every reader here turns a bad file into a :class:`~rlaif.errors.RlaifError` that names the file and the line or
field, so nothing a user writes can produce a traceback. Writers are crash-safe: small state files are written
to a temp file and renamed into place; journals are appended and fsync'd line by line.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from rlaif.errors import Problem, RlaifError, closest

MAX_CONFIG_BYTES = 5 * 1024 * 1024
"""Constitutions and run configs are hand-written; anything bigger is a mistake (or an attack)."""
MAX_YAML_ALIASES = 100
"""Caps YAML alias expansion (a "billion laughs" file would otherwise take all memory when traversed)."""
MAX_YAML_VALUES = 200_000
"""Caps the values a file expands to once aliases are followed: few aliases can still nest exponentially."""
MAX_YAML_DEPTH = 64
"""Caps nesting depth (validators and writers walk the data recursively)."""


def read_text(path: str | Path, what: str = "file", max_bytes: int | None = MAX_CONFIG_BYTES) -> str:
    """The file's UTF-8 text, or an error naming the file and what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise RlaifError(f"{path}: {what} not found")
    if path.is_dir():
        raise RlaifError(f"{path}: expected a {what}, found a directory")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise RlaifError(f"{path}: {what} is {size:,} bytes; the limit is {max_bytes:,}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RlaifError(
            f"{path}: line {line}: not valid UTF-8 (byte {exc.start}); save the {what} as UTF-8"
        ) from None
    if not text.strip():
        raise RlaifError(f"{path}: {what} is empty")
    return text


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses files with an absurd number of aliases."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases (possible alias bomb)")
        return super().compose_node(parent, index)


# YAML 1.1 (PyYAML) reads `1e-5` as a string because it insists on a dot in floats; users write learning rates
# that way, so accept YAML 1.2's float syntax too.
_GuardedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml_text(text: str) -> Any:
    """Parse YAML with rlaif's loader (alias cap, YAML 1.2 floats); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_GuardedLoader)  # noqa: S506 - _GuardedLoader is a SafeLoader


def _expansion_problem(data: Any) -> str | None:
    """Why ``data`` is unsafe to walk (a cycle, absurd size once aliases are followed, absurd depth), or None."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ValueError("an alias refers to a value that contains it (a cycle)")
        if depth > MAX_YAML_DEPTH:
            raise ValueError(f"values are nested more than {MAX_YAML_DEPTH} levels deep")
        active.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1 + sum(size(child, depth + 1) for child in children)
        active.discard(key)
        if total > MAX_YAML_VALUES:
            raise ValueError(f"it expands to more than {MAX_YAML_VALUES:,} values (an alias bomb?)")
        sizes[key] = total
        return total

    try:
        size(data, 0)
    except ValueError as exc:
        return str(exc)
    return None


def load_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a YAML (or JSON) file that must hold a mapping at the top level."""
    text = read_text(path, what)
    try:
        data = yaml.load(text, Loader=_GuardedLoader)  # noqa: S506 - _GuardedLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RlaifError(f"{path}: {where}invalid YAML: {problem}") from None
    except RecursionError:
        raise RlaifError(f"{path}: invalid YAML: nested too deeply to read") from None
    problem = _expansion_problem(data)
    if problem:
        raise RlaifError(f"{path}: refused: {problem}") from None
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise RlaifError(
            f"{path}: a {what} must be a YAML mapping (key: value pairs) at the top level, found {kind}"
        )
    return data


def field_path(parts: Any) -> str:
    """``["principles", 2, "critique"]`` -> ``principles[2].critique``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = (
            [key for key in error.instance if key not in allowed] if isinstance(error.instance, dict) else []
        )
        hints = []
        for key in extras:
            suggestion = closest(str(key), allowed)
            hints.append(f"unknown key '{key}'" + (f" (did you mean '{suggestion}'?)" if suggestion else ""))
        return "; ".join(hints) + f"; allowed keys: {', '.join(allowed)}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator in ("oneOf", "anyOf") and error.context:
        kinds = [e.validator_value for e in error.context if e.validator == "type" and not e.relative_path]
        if len(kinds) == len(error.context):  # the value has none of the forms' types
            return f"expected {' or '.join(map(str, kinds))}, got {type(error.instance).__name__} {json.dumps(error.instance, default=str)[:60]}"
    if error.validator == "type":
        return f"expected {error.validator_value}, got {type(error.instance).__name__} {json.dumps(error.instance, default=str)[:60]}"
    return error.message


def _specific(error: ValidationError) -> ValidationError:
    """For "matches none of the forms" (``oneOf``/``anyOf``), the failure inside the form the value was
    closest to: "optimizer[1]: 'name' is required" rather than "[...] is not valid under any of the given
    schemas". Scalars keep the general message (which form was meant is a guess)."""
    if error.validator in ("oneOf", "anyOf") and isinstance(error.instance, dict | list):
        from jsonschema.exceptions import best_match

        # A form whose type the value has failed inside; a root type mismatch means another form was meant.
        inside = [e for e in error.context or () if e.relative_path or e.validator != "type"]
        if inside:
            return _specific(best_match(inside))
    return error


def schema_problems(
    instance: Any, schema: Mapping[str, Any], file: str | None, prefix: tuple = ()
) -> list[Problem]:
    """Every schema violation, each with its field path and what was expected (not just the first)."""
    problems = _walk_problems(instance, file, list(prefix))
    if problems:  # JSON Schema (and JSON itself) knows only text keys and finite numbers; YAML allows more
        return problems
    validator = Draft202012Validator(schema)
    errors = [_specific(error) for error in validator.iter_errors(instance)]
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        problems.append(
            Problem(_describe(error), file=file, where=field_path([*prefix, *error.absolute_path]))
        )
    return problems


def _walk_problems(instance: Any, file: str | None, path: list) -> list[Problem]:
    problems = []
    if isinstance(instance, float) and not math.isfinite(instance):
        problems.append(Problem(f"expected a finite number, got {instance}", file, field_path(path)))
    elif isinstance(instance, dict):
        for key, value in instance.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        f"keys must be text, found {type(key).__name__} {key!r} (quote it)",
                        file,
                        field_path(path),
                    )
                )
            else:
                problems += _walk_problems(value, file, [*path, key])
    elif isinstance(instance, list):
        for index, value in enumerate(instance):
            problems += _walk_problems(value, file, [*path, index])
    return problems


def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in ``rlaif/schemas``."""
    return json.loads((Path(__file__).parent / "schemas" / name).read_text(encoding="utf-8"))


def iter_jsonl(path: str | Path, what: str = "JSONL file") -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line_number, record)`` for every non-blank line; a bad line is an error naming its number."""
    path = Path(path)
    read_text(path, what, max_bytes=None)  # existence, UTF-8, non-empty
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RlaifError(
                    f"{path}: line {number}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
            if not isinstance(record, dict):
                raise RlaifError(
                    f"{path}: line {number}: expected a JSON object, got {type(record).__name__}"
                )
            yield number, record


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temp file in the same directory and rename: readers never see a half-written file."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RlaifError(
                f"{path}: cannot write ({exc.strerror or exc}); the previous version, if any, is unchanged",
                hint="Free disk space or fix permissions, then re-run the same command to resume.",
            ) from None
        raise


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
