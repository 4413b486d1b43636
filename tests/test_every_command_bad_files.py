"""Every command that reads a file, on every kind of broken file: exit 2, the file named, no traceback.

The commands are not listed here: they are enumerated from the click group itself (``build_cli()``, groups
recursed), and every parameter that takes a file is exercised. A command added later (by a plugin too) is
covered without anyone writing a test for it; if it needs arguments this file cannot guess, the test fails
and says which table to extend, rather than silently skipping it.

How a parameter is classified:

* input: a ``click.Path`` / ``click.File`` parameter, or a plain string parameter named like a file
  (data, file, path, config, labels, target, ...). These get the broken files.
* output: a ``click.Path(writable=True)`` or a ``click.File`` opened for writing. Commands must declare
  their outputs that way; an undeclared output is treated as an input and fails here, loudly.

Models never load: ``ModelPool.model`` and ``PreTrainedModel.from_pretrained`` are replaced by a trap, so a
command that reaches for a model before rejecting its bad file fails the test (validation comes first).
"""

from __future__ import annotations

import os
import re
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import click.testing
import pytest
from click.testing import CliRunner

from rlaif.cli import build_cli

HUGE_LINE_BYTES = 50 * 1024 * 1024
FILE_LIKE_NAME = re.compile(r"(^|_)(data|file|files|path|paths|config|labels|target|pairs|prompts)(_|$)")
"""Plain string parameters with names like these are treated as files too (a command may take a path as str)."""

VALID_PAIR = (
    '{"prompt": "Say hello.", "chosen": "Hello!", "rejected": "Go away.", "completion": "Hello!",'
    ' "type": "choice", "accepted": "Hello!"}\n'
)
VALID_INPUTS: dict[str, Callable[[Path], Path]] = {
    "pairs": lambda d: _write(d / "valid-pairs.jsonl", VALID_PAIR * 2),
    "data": lambda d: _write(d / "valid-pairs.jsonl", VALID_PAIR * 2),
    "data_path": lambda d: _write(d / "valid-pairs.jsonl", VALID_PAIR * 2),
    "target": lambda d: _write(d / "valid-pairs.jsonl", VALID_PAIR * 2),  # rlaif label: what was labelled
    # rlaif constitution audit: the labelled pairs (any preference format) and the constitution audited
    "labels": lambda d: _write(d / "valid-pairs.jsonl", VALID_PAIR * 2),
    "constitution": lambda d: _write(
        d / "valid-constitution.yaml",
        "name: c\nprinciples:\n  - {id: p, critique_request: c, revision_request: r, judging_question: q}\n",
    ),
    # rlaif label import: a Label Studio export of one task nobody annotated
    "file": lambda d: _write(d / "valid-export.json", '[{"id": 1, "data": {}, "annotations": []}]'),
}
"""A good file for an input that is NOT under test but required (by parameter name), e.g. judge-eval's --data
while CONFIG is the broken one."""

DEFAULT_VALUES: dict[str, str] = {
    "model_spec": "embedded",
    "model": "embedded",
    "reward_name": "length",
    "members": "{name: likelihood}",
}
"""Values for required non-file parameters, by parameter name (used by every command that has one)."""

ALSO_NEEDED: dict[str, dict[str, tuple[str, ...]]] = {
    "judge-eval": {"data": ("labels",)},  # --data or --labels: exactly one of them
    "judge fit-ensemble": {"data": ("labels",)},
}
"""Optional parameters a command still needs (by command: parameter -> the alternatives that replace it), filled
like required ones unless the input under test is one of the alternatives."""

EXTRA_ARGS: dict[str, list[str]] = {}
"""Per-command extra arguments (``"judge probe": ["--model", "embedded"]``) when DEFAULT_VALUES is not enough.
Commands not listed get only the broken file plus DEFAULT_VALUES for their other required parameters."""


ACCEPTED: dict[tuple[str, str, str], str] = {
    (
        "label serve",
        "labels",
        "empty",
    ): "an empty labels file is a store with no labels yet: serving it is right",
    (
        "label import",
        "labels",
        "empty",
    ): "an empty labels file is a store with no labels yet: importing into it is right",
    ("label import", "labels", "missing"): "import creates the labels file it adds to",
    ("label serve", "labels", "missing"): "serving creates the labels file it appends to",
    (
        "label serve",
        "labels",
        "truncated-json",
    ): "a torn last line is what a crash mid-append leaves: the store "
    "must reopen it (and starts its next event on a fresh line)",
    ("label import", "labels", "truncated-json"): "a torn last line is what a crash mid-append leaves",
}
"""(command, parameter, case) where the "broken" file is in fact valid input; the test then checks that the
command accepted it (it succeeded, or reached the point of serving), not that it refused it."""


class ServedAfterChecks(Exception):
    """Raised instead of starting a server: every input was accepted (never blocks a test run)."""


class ModelLoadedTooEarly(BaseException):
    """Raised by the model-loading trap; a BaseException so no command turns it into a clean error."""


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# -- the corpus of broken files ------------------------------------------------------------------------------


def _not_utf8(d: Path) -> Path:
    return _write(d / "bad-not-utf8.jsonl", b"\xff\xfe garbage\n")


def _binary(d: Path) -> Path:
    return _write(d / "bad-binary.jsonl", bytes(range(256)) * 64)


def _empty(d: Path) -> Path:
    return _write(d / "bad-empty.jsonl", b"")


def _directory(d: Path) -> Path:
    path = d / "bad-directory"
    path.mkdir()
    return path


def _json_list(d: Path) -> Path:
    return _write(d / "bad-json-list.jsonl", '[{"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}]\n')


def _truncated_json(d: Path) -> Path:
    return _write(d / "bad-truncated.jsonl", '{"prompt": "Hi", "chosen": "Hel')


def _wrong_types(d: Path) -> Path:
    record = (
        '{"prompt": 3, "chosen": [1], "rejected": null, "completion": 7, "type": [], "accepted": 1,'
        ' "name": 5, "principles": "x", "seed": "x", "status": 4, "judge": 1, "principle_id": []}\n'
    )
    return _write(d / "bad-wrong-types.jsonl", record)


def _huge_line(d: Path) -> Path:
    path = d / "bad-huge-line.jsonl"
    with path.open("wb") as handle:  # written in chunks: the test itself must not hold 50 MB either
        handle.write(b'{"prompt": "')
        chunk = b"a" * (1024 * 1024)
        for _ in range(HUGE_LINE_BYTES // len(chunk)):
            handle.write(chunk)
    return path


def _symlink_loop(d: Path) -> Path:
    path = d / "bad-symlink-loop.jsonl"
    os.symlink(path.name, path)  # the link points at itself
    return path


def _missing(d: Path) -> Path:
    return d / "bad-missing.jsonl"


def _no_permission(d: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip(
            "running as root: file permissions are not enforced, so an unreadable file cannot be made"
        )
    path = _write(d / "bad-no-permission.jsonl", VALID_PAIR)
    path.chmod(0)
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "not-utf8": _not_utf8,
    "binary": _binary,
    "empty": _empty,
    "directory": _directory,
    "json-list": _json_list,
    "truncated-json": _truncated_json,
    "wrong-types": _wrong_types,
    "huge-line": _huge_line,
    "symlink-loop": _symlink_loop,
    "missing": _missing,
    "no-permission": _no_permission,
}


# -- enumerating the commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileParam:
    command: tuple[str, ...]
    name: str

    @property
    def id(self) -> str:
        return f"{' '.join(self.command)}:{self.name}"


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def is_output(param: click.Parameter) -> bool:
    if isinstance(param.type, click.Path):
        return bool(param.type.writable)
    if isinstance(param.type, click.File):
        return any(flag in param.type.mode for flag in "wax")
    return False


def is_file_param(param: click.Parameter) -> bool:
    if isinstance(param.type, click.Path | click.File):
        return True
    return param.type is click.STRING and bool(FILE_LIKE_NAME.search(param.name or ""))


def input_params(cli: click.Group) -> list[FileParam]:
    return [
        FileParam(path, param.name)
        for path, command in _commands(cli)
        for param in command.params
        if is_file_param(param) and not is_output(param) and param.name
    ]


CLI = build_cli()
INPUTS = input_params(CLI)


def _command(cli: click.Group, path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for part in path:
        assert isinstance(command, click.Group)
        command = command.commands[part]
    return command


def _as_args(param: click.Parameter, value: str) -> list[str]:
    if isinstance(param, click.Argument):
        return [value]
    flag = next(opt for opt in param.opts if opt.startswith("--")) if param.opts else param.opts[0]
    if getattr(param, "is_flag", False):
        return [flag]
    return [flag, value]


def command_line(cli: click.Group, target: FileParam, bad: Path, workdir: Path) -> list[str]:
    """The arguments that run ``target.command`` with ``bad`` as ``target.name`` and minimal valid others.

    Fails (with what to add where) when a required parameter has no value this file knows how to give.
    """
    command = _command(cli, target.command)
    name = " ".join(target.command)
    args: list[str] = list(EXTRA_ARGS.get(name, []))
    arguments: list[tuple[click.Parameter, list[str]]] = []
    for param in command.params:
        given: list[str] | None = None
        if param.name == target.name:
            given = [str(bad)]
        elif (
            not param.required and target.name in ALSO_NEEDED.get(name, {}).get(param.name, (target.name,))
        ) or any(opt in args for opt in param.opts):
            continue
        elif is_file_param(param) and is_output(param):
            given = [str(workdir / f"out-{param.name}")]
        elif is_file_param(param):
            if param.name not in VALID_INPUTS:
                pytest.fail(
                    f"`rlaif {name}` requires the input {param.name!r}, and this test has no valid sample for "
                    f"it: add one to VALID_INPUTS (or, if it is an output, declare it click.Path(writable=True))"
                )
            given = [str(VALID_INPUTS[param.name](workdir))]
        elif param.name in DEFAULT_VALUES:
            given = [DEFAULT_VALUES[param.name]]
        elif isinstance(param.type, click.Choice):
            given = [str(param.type.choices[0])]
        elif isinstance(param.type, click.IntRange | click.FloatRange):
            given = [str(param.type.min if param.type.min is not None else 1)]
        elif param.type in (click.INT, click.FLOAT):
            given = ["1"]
        else:
            pytest.fail(
                f"`rlaif {name}` requires {param.name!r}, which this test cannot guess: add a value to "
                "DEFAULT_VALUES (by parameter name) or EXTRA_ARGS (by command)"
            )
        for value in given:
            if isinstance(param, click.Argument):
                arguments.append((param, [value]))
            else:
                args += _as_args(param, value)
    # arguments go in declaration order; an optional argument before the target must be skipped over with care
    positional = [value for _, values in arguments for value in values]
    declared = [p for p in command.params if isinstance(p, click.Argument)]
    target_param = next(p for p in command.params if p.name == target.name)
    if isinstance(target_param, click.Argument):
        before = declared[: declared.index(target_param)]
        missing_before = [p.name for p in before if not any(p is q for q, _ in arguments)]
        if missing_before:
            pytest.fail(
                f"`rlaif {name}`: cannot place {target.name!r} after unset arguments {missing_before}"
            )
    return [*target.command, *positional, *args]


MAX_PEAK_BYTES = 40 * 1024 * 1024
"""Below the 50 MB line: a reader that holds the whole line (or file) fails; one that stops at its cap passes."""


def invoke_measured(args: list[str], measure: bool) -> tuple[click.testing.Result, int]:
    """Run the command; with ``measure``, also the peak Python memory it allocated (tracemalloc)."""
    if not measure:
        return CliRunner().invoke(CLI, args), 0
    tracemalloc.start()
    try:
        result = CliRunner().invoke(CLI, args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def huge_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _huge_line(tmp_path_factory.mktemp("huge"))


@pytest.fixture(autouse=True)
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model load is a failure: a bad file must be rejected before models are touched."""

    def trap(*args: object, **kwargs: object) -> None:
        raise ModelLoadedTooEarly("a model was loaded before the bad file was rejected")

    def serve_trap(*args: object, **kwargs: object) -> None:
        raise ServedAfterChecks("the inputs were accepted and the server would start now")

    monkeypatch.setattr("rlaif.label.server.serve", serve_trap)
    monkeypatch.setattr("rlaif.models.pool.ModelPool.model", trap)
    monkeypatch.setattr("transformers.modeling_utils.PreTrainedModel.from_pretrained", trap)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_the_cli_has_file_inputs_to_check() -> None:
    """Guards the enumeration itself: if it found nothing, every case below would pass vacuously."""
    ids = {param.id for param in INPUTS}
    for expected in ("rewards score:data_path", "feedback import:file", "config check:config", "train:pairs"):
        assert expected in ids, sorted(ids)
    outputs = [
        (" ".join(path), param.name)
        for path, command in _commands(CLI)
        for param in command.params
        if is_file_param(param) and is_output(param)
    ]
    assert ("feedback import", "output") in outputs and ("train", "output_dir") in outputs


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("target", INPUTS, ids=[param.id for param in INPUTS])
def test_every_file_input_rejects_a_broken_file(
    target: FileParam, case: str, tmp_path: Path, huge_file: Path
) -> None:
    bad = huge_file if case == "huge-line" else CASES[case](tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    args = command_line(CLI, target, bad, workdir)
    result, peak = invoke_measured(args, measure=case == "huge-line")
    shown = f"rlaif {' '.join(args)}\nexit {result.exit_code}\n{result.output}"
    assert peak < MAX_PEAK_BYTES, f"reading a {HUGE_LINE_BYTES:,}-byte line took {peak:,} bytes:\n{shown}"
    if isinstance(result.exception, ModelLoadedTooEarly):
        pytest.fail(f"a model was loaded before the bad file was rejected:\n{shown}")
    if (target.id.split(":")[0], target.name, case) in ACCEPTED:
        assert result.exit_code == 0 or isinstance(result.exception, ServedAfterChecks), shown
        return
    assert not isinstance(result.exception, ServedAfterChecks), (
        f"a server would start on a broken file:\n{shown}"
    )
    assert "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\n{result.exception!r}"
    )
    assert "Missing argument" not in result.output and "Missing option" not in result.output, (
        f"the command line this test built is incomplete; extend EXTRA_ARGS/DEFAULT_VALUES:\n{shown}"
    )
    assert result.exit_code == 2, shown
    assert bad.name in result.output, f"the message does not name the file:\n{shown}"


# -- files named inside option values: --option KEY=@FILE -----------------------------------------------------

OPTION_FILE_CASES = sorted(set(CASES) - {"json-list", "wrong-types"})
"""An ``@file`` value is any YAML, so a list or odd types are legal there (the option's own check judges them)."""
OPTION_PARAMS = [
    FileParam(path, param.name)
    for path, command in _commands(CLI)
    for param in command.params
    if isinstance(param, click.Option) and param.metavar == "KEY=VALUE" and param.name
]


def test_the_cli_has_option_files_to_check() -> None:
    assert {"train:options", "judge-eval:options", "rewards score:option_texts"} <= {
        p.id for p in OPTION_PARAMS
    }


@pytest.mark.parametrize("case", OPTION_FILE_CASES)
@pytest.mark.parametrize("target", OPTION_PARAMS, ids=[param.id for param in OPTION_PARAMS])
def test_every_option_file_rejects_a_broken_file(
    target: FileParam, case: str, tmp_path: Path, huge_file: Path
) -> None:
    bad = huge_file if case == "huge-line" else CASES[case](tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    args = command_line(CLI, target, Path(f"max=@{bad}"), workdir)
    result, peak = invoke_measured(args, measure=case == "huge-line")
    shown = f"rlaif {' '.join(args)}\nexit {result.exit_code}\n{result.output}"
    assert peak < MAX_PEAK_BYTES, f"reading a {HUGE_LINE_BYTES:,}-byte line took {peak:,} bytes:\n{shown}"
    assert not isinstance(result.exception, ModelLoadedTooEarly), shown
    assert "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\n{result.exception!r}"
    )
    assert result.exit_code == 2, shown
    assert bad.name in result.output, f"the message does not name the file:\n{shown}"


# -- a run directory's own files: the report is written anyway, the damage named -------------------------------


@pytest.mark.parametrize(
    "case", ["not-utf8", "binary", "huge-line", "json-list", "truncated-json", "directory"]
)
def test_report_names_a_damaged_run_file_and_still_writes(case: str, tmp_path: Path, huge_file: Path) -> None:
    run = tmp_path / "run"
    (run / "round-1").mkdir(parents=True)
    (run / "manifest.json").write_text('{"status": "running", "rounds": [{"round": 1}]}')
    bad = huge_file if case == "huge-line" else CASES[case](tmp_path)
    records = run / "round-1" / "records.jsonl"
    if bad.is_dir():
        records.mkdir()
    else:
        os.symlink(bad, records)
    (run / "config.yaml").write_bytes(b"\xff\xfe")  # a damaged saved config is named, not fatal
    result = CliRunner().invoke(CLI, ["report", str(run)])
    assert result.exit_code == 0 and result.exception is None, result.output
    html = (run / "report.html").read_text()
    assert "records.jsonl" in html and "config.yaml" in html


def test_report_on_a_manifest_that_is_not_an_object_is_a_clean_error(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("[1, 2]")
    result = CliRunner().invoke(CLI, ["report", str(run)])
    assert result.exit_code == 2 and "not a run directory" in result.output, result.output
    assert "Traceback" not in result.output


# -- the reader itself ----------------------------------------------------------------------------------------


def test_reader_skips_a_huge_line_and_keeps_reading_when_collecting(tmp_path: Path) -> None:
    from rlaif.errors import Problem
    from rlaif.files import iter_jsonl

    path = tmp_path / "mixed.jsonl"
    with path.open("wb") as handle:
        handle.write(b'\xef\xbb\xbf{"a": 1}\n')  # a UTF-8 byte-order mark is not content
        handle.write(b'{"b": "' + b"x" * 3000 + b'"}\n')
        handle.write(b"\xff\n[1]\n{bad\n")
        handle.write(b'{"c": 3}')  # no final newline
    problems: list[Problem] = []
    records = list(iter_jsonl(path, "data", problems, max_line_bytes=1000))
    assert records == [(1, {"a": 1}), (6, {"c": 3})]
    assert [(p.where, p.message.split(" ")[0]) for p in problems] == [
        ("line 2", "longer"),
        ("line 3", "not"),
        ("line 4", "expected"),
        ("line 5", "invalid"),
    ]
    assert "byte 3022" in problems[1].message  # the offset in the file, for a hex editor


def test_reader_names_utf16_and_refuses_special_files(tmp_path: Path) -> None:
    from rlaif.errors import RlaifError
    from rlaif.files import iter_jsonl, read_text

    utf16 = _write(tmp_path / "notepad.jsonl", '{"a": 1}\n'.encode("utf-16"))
    with pytest.raises(
        RlaifError, match=r"notepad.jsonl: line 1: not valid UTF-8 \(byte 0\) \(it looks like UTF-16\)"
    ):
        list(iter_jsonl(utf16))
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(RlaifError, match="pipe.jsonl: expected a file, found a special file"):
        read_text(fifo)
    with pytest.raises(RlaifError, match="pipe.jsonl: expected a JSONL file, found a special file"):
        list(iter_jsonl(fifo))
