"""Reading user files safely and writing run files durably.

Every reader here turns a bad file into a :class:`~rlaif.errors.RlaifError` that names the file and the line or
field, so nothing a user writes can produce a traceback. Writers are crash-safe: small state files are written
to a temp file and renamed into place; journals are appended and fsync'd line by line.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

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


MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest JSONL line read: generous for long conversations, small enough that a file with no newlines
(a binary, a minified dump, ``/dev/zero``) cannot take all memory."""
MAX_JSON_BYTES = 64 * 1024 * 1024
"""Single JSON documents a user passes (fitted ensembles, metrics) are small; this stops a runaway file."""

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _os_problem(error: OSError) -> str:
    """What an ``OSError`` from stat/open means for a user, in words."""
    code = error.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return "not found"
    if code == errno.ELOOP:
        return "cannot be opened: a symbolic link loop (the link points, directly or not, at itself)"
    if code in (errno.EACCES, errno.EPERM):
        return "cannot be read: permission denied"
    if code == errno.ENAMETOOLONG:
        return "cannot be opened: the name is too long"
    return f"cannot be read ({error.strerror or error})"


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """The path of a readable regular file, or an error saying what it is instead (missing, a directory...).

    Checked before anything slow happens (models loading, a run starting), so a typo costs nothing.
    """
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        message = _os_problem(exc)
        raise RlaifError(
            f"{path}: {what} {message}" if message == "not found" else f"{path}: {message}"
        ) from None
    except ValueError:  # an embedded NUL byte in the name
        raise RlaifError(f"{path!r}: not a valid file name") from None
    if stat.S_ISDIR(info.st_mode):
        raise RlaifError(f"{path}: expected a {what}, found a directory")
    if not stat.S_ISREG(info.st_mode):
        # a FIFO would block forever and a device may never end: only plain files are read
        raise RlaifError(f"{path}: expected a {what}, found a special file (a pipe, socket or device)")
    return path


def open_input(path: str | Path, what: str = "file") -> BinaryIO:
    """The file opened for reading in binary, after :func:`check_input_file`; open errors name the file."""
    path = check_input_file(path, what)
    try:
        return path.open("rb")
    except OSError as exc:
        raise RlaifError(f"{path}: {_os_problem(exc)}") from None


def _not_utf8(path: Path, what: str, data: bytes, error: UnicodeDecodeError, offset: int = 0) -> str:
    """``line 3: not valid UTF-8 (byte 41); save the file as UTF-8`` (with a hint for UTF-16 files)."""
    hint = " (it looks like UTF-16)" if offset == 0 and data[:2] in _UTF16_BOMS else ""
    return f"not valid UTF-8 (byte {offset + error.start}){hint}; save the {what} as UTF-8"


def read_text(path: str | Path, what: str = "file", max_bytes: int | None = MAX_CONFIG_BYTES) -> str:
    """The file's UTF-8 text, or an error naming the file and what is wrong with it.

    Reads at most ``max_bytes`` + 1 bytes whatever the file claims to be, so a growing or huge file cannot
    exhaust memory.
    """
    with open_input(path, what) as handle:
        path = Path(path)
        data = handle.read(max_bytes + 1) if max_bytes is not None else handle.read()
    if max_bytes is not None and len(data) > max_bytes:
        size = max(path.stat().st_size, len(data))
        raise RlaifError(f"{path}: {what} is {size:,} bytes; the limit is {max_bytes:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RlaifError(f"{path}: line {line}: {_not_utf8(path, what, data, exc)}") from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Windows editors) is not content
    if not text.strip():
        raise RlaifError(f"{path}: {what} is empty")
    return text


def iter_lines(
    path: str | Path,
    what: str = "file",
    problems: list[Problem] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for every non-blank line, streamed: memory stays under ``max_line_bytes``.

    A line that is not UTF-8 or longer than the cap is an error naming its number; with ``problems`` given it
    is recorded there and skipped instead, so a caller can report every bad line at once. A file with no
    content at all is always an error.
    """
    path = Path(path)
    offset = 0
    seen_content = False
    with open_input(path, what) as handle:
        for number in itertools.count(1):
            raw = handle.readline(max_line_bytes + 1)
            if not raw:
                break
            start = offset
            offset += len(raw)
            problem = None
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                while (rest := handle.readline(1024 * 1024)) and not rest.endswith(b"\n"):
                    offset += len(rest)  # skip the rest of the line without holding it
                offset += len(rest)
                problem = f"longer than {max_line_bytes:,} bytes (is this really a {what}?)"
                seen_content = True
            else:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problem = _not_utf8(path, what, raw, exc, start)
                    seen_content = True
            if problem is not None:
                if problems is None:
                    raise RlaifError(f"{path}: line {number}: {problem}")
                problems.append(Problem(problem, str(path), f"line {number}"))
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            seen_content = True
            yield number, line
    if not seen_content:
        raise RlaifError(f"{path}: {what} is empty")


def load_json(path: str | Path, what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON document from a file; bad JSON is an error naming the line and column."""
    text = read_text(path, what, max_bytes=max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RlaifError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise RlaifError(f"{path}: invalid JSON: nested too deeply to read") from None


def load_json_object(
    path: str | Path, what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES
) -> dict[str, Any]:
    """:func:`load_json` for files that must hold one object (``{...}``) at the top level."""
    data = load_json(path, what, max_bytes)
    if not isinstance(data, dict):
        raise RlaifError(
            f"{path}: a {what} must be a JSON object ({{...}}) at the top level, found {_kind(data)}"
        )
    return data


def load_dataset_dir(path: str | Path, what: str = "dataset") -> Any:
    """A ``datasets`` dataset saved with ``save_to_disk`` (one split), or an error naming the directory."""
    path = Path(path)
    try:
        if not path.is_dir():
            raise RlaifError(f"{path}: expected a {what} directory")
        from datasets import load_from_disk

        dataset = load_from_disk(str(path))
    except RlaifError:
        raise
    except Exception as exc:  # datasets raises several types for "not a dataset directory"
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise RlaifError(f"{path}: not a {what} saved with `datasets` save_to_disk ({reason})") from None
    if not hasattr(dataset, "column_names") or isinstance(dataset.column_names, dict):
        raise RlaifError(f"{path}: is a DatasetDict; point at one split's directory")
    return dataset


def _kind(value: Any) -> str:
    """``a list``, ``a string``, ``nothing``: a JSON/YAML value's type in a user's words."""
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "nothing (null)",
    }
    return names.get(type(value), type(value).__name__)


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


def load_yaml_file(path: str | Path, what: str) -> Any:
    """Parse a YAML (or JSON) file of any shape, with the alias, size and depth guards; errors name the file."""
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
    return data


def load_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a YAML (or JSON) file that must hold a mapping at the top level."""
    data = load_yaml_file(path, what)
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


def iter_jsonl(
    path: str | Path,
    what: str = "JSONL file",
    problems: list[Problem] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line_number, record)`` for every non-blank line; a bad line is an error naming its number.

    Streamed line by line (see :func:`iter_lines`); with ``problems`` given, bad lines are recorded there and
    skipped so the caller can report them all at once.
    """
    for number, line in iter_lines(path, what, problems, max_line_bytes):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"invalid JSON: {exc.msg} (column {exc.colno})"
        except RecursionError:
            problem = "invalid JSON: nested too deeply to read"
        else:
            if isinstance(record, dict):
                yield number, record
                continue
            problem = f"expected a JSON object ({{...}}), got {_kind(record)}"
        if problems is None:
            raise RlaifError(f"{path}: line {number}: {problem}")
        problems.append(Problem(problem, str(path), f"line {number}"))


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


def write_all(fd: int, payload: bytes) -> None:
    """Write every byte to ``fd`` unbuffered, so nothing is left in a buffer to be flushed after a failed
    append has been cut back (the append-only journals: run records, expert labels)."""
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def cut_back(fd: int, size: int) -> None:
    """Truncate a partly written append back to ``size``; if even that fails, the readers drop the torn tail."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass
