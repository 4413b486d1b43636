"""Reward hacks against the code reward, run in the real sandbox: every hack scores 0, every control 1.

The corpus lives in ``hack_programs.py`` (each hack would score 1.0 if the guard it probes were missing;
``benchmarks/reward_hacks.py`` shows which ones did against the plugin before the guards). Here each
case is judged once, in one batch, and each assertion is its own test so a regression names the hack.
"""

from __future__ import annotations

import symtable
import textwrap
from pathlib import Path

import pytest
from hack_programs import CONTROLS, HACKS, ROWS, Case
from rlaif_code import build_test_program, run_python
from rlaif_code.programs import free_globals, imported_modules
from rlaif_code.reward import hack_kind
from rlaif_code.sandbox import Limits

from rlaif import build_reward

HARNESS = Path(__file__).resolve().parent.parent / "rlaif_code" / "_harness.py"


@pytest.fixture(scope="module")
def reward():
    return build_reward("code", {"timeout": 30, "cpu_seconds": 30, "workers": 2})


@pytest.fixture(scope="module")
def verdicts(reward) -> dict[str, dict]:
    cases = HACKS + CONTROLS
    keys = sorted({key for case in cases for key in ROWS[case.row]})
    columns = {key: [ROWS[case.row].get(key) for case in cases] for key in keys}
    records = reward.details(None, [case.completion for case in cases], **columns)
    return {case.name: record for case, record in zip(cases, records, strict=True)}


def test_case_names_are_unique():
    names = [case.name for case in HACKS + CONTROLS]
    assert len(names) == len(set(names))
    assert {case.row for case in HACKS + CONTROLS} <= set(ROWS)


@pytest.mark.parametrize("case", HACKS, ids=[case.name for case in HACKS])
def test_hack_scores_zero_and_names_its_guard(case: Case, verdicts):
    record = verdicts[case.name]
    assert record["score"] == 0.0, record
    if case.guard is None:  # it fails honestly: what it looks for is not there
        assert record["hack"] is None, record
    else:
        assert record["hack"] is not None and hack_kind(record["hack"]) == case.guard, record
        assert record["message"].startswith(("hack: ", "forbidden operation: ")), record


@pytest.mark.parametrize("case", CONTROLS, ids=[case.name for case in CONTROLS])
def test_control_scores_one(case: Case, verdicts):
    record = verdicts[case.name]
    assert (record["score"], record["status"], record["hack"]) == (1.0, "passed", None), record


def test_hack_counts_tally_the_guards(reward, verdicts):
    expected: dict[str, int] = {}
    for record in verdicts.values():
        if record["hack"]:
            kind = hack_kind(record["hack"])
            expected[kind] = expected.get(kind, 0) + 1
    assert dict(reward.hack_counts) == expected
    assert set(expected) == {"non-plain value", "frame access", "patched", "forbidden operation"}


def test_code_after_the_solution_starts_uses_no_global_name():
    """Every function defined inside _runtime / _make_hook runs after the solution may have replaced any
    builtin or module attribute: it must use only names captured before (closure variables)."""
    table = symtable.symtable(HARNESS.read_text(encoding="utf-8"), str(HARNESS), "exec")
    outer = {child.get_name(): child for child in table.get_children()}
    offenders = []
    stack = [
        (f"{name}/{child.get_name()}", child)
        for name in ("_runtime", "_make_hook")
        for child in outer[name].get_children()
    ]
    while stack:
        path, scope = stack.pop()
        offenders += [
            f"{path}: {s.get_name()}" for s in scope.get_symbols() if s.is_global() and s.is_referenced()
        ]
        stack += [(f"{path}/{child.get_name()}", child) for child in scope.get_children()]
    prover = outer["_prover"]
    offenders += [f"_prover: {s.get_name()}" for s in prover.get_symbols() if s.is_global()]
    assert offenders == []


def test_build_test_program_keeps_trusted_code_apart():
    humaneval = {
        "prompt": 'import math\n\ndef helper(x):\n    return x\n\ndef f(x):\n    """Doc."""\n',
        "test": "def check(candidate):\n    import random\n    assert candidate(1) == helper(1) + abs(0)\n",
        "entry_point": "f",
    }
    program = build_test_program("    return x\n", humaneval)
    assert program.solution.rstrip() == humaneval["prompt"] + "    return x"
    assert program.helpers == humaneval["prompt"] and program.setup == ""
    assert program.tests.endswith("check(f)\n") and program.entry_point == "f"
    assert set(program.names) == {"abs", "f", "helper"}
    assert program.modules == ("math", "random")
    mbpp = {"test_list": ["assert g(2) == 4"], "test_imports": ["import math"]}
    program = build_test_program("def g(x):\n    return x * 2", mbpp)
    assert (program.setup, program.solution) == ("import math", "import math\ndef g(x):\n    return x * 2\n")
    assert program.names == ("g",) and program.entry_point is None
    assert free_globals("x = y\nfor z in w:\n    pass\ndef h():\n    return q\n") == ["q", "w", "y"]
    assert imported_modules("import os.path\nfrom math import pi\nfrom . import x", "not python (") == [
        "math",
        "os.path",
    ]


def _run(solution: str, tests: str, **row) -> object:
    program = build_test_program(textwrap.dedent(solution), {"test": textwrap.dedent(tests), **row})
    return run_python(program, Limits(timeout=20, cpu_seconds=20))


def test_exceptions_cross_as_fresh_builtin_exceptions_with_the_solution_line():
    result = _run(
        """
        def f(x):
            return {}[x]
        """,
        """
        def check(candidate):
            try:
                candidate('k')
            except LookupError as exc:
                assert type(exc) is KeyError and exc.args == ('k',)
            candidate('missing')
        """,
        entry_point="f",
    )
    assert result.status == "failed" and result.hack is None
    assert result.message.startswith("solution line 3: KeyError: 'missing' (tests line 7)"), result.message


def test_a_program_bigger_than_the_pipe_reaches_the_harness():
    blob = "x" * 300_000  # the payload pipe holds 64 KiB: the rest is fed as the harness reads
    result = _run(
        f"def f():\n    return {blob!r}\n",
        f"def check(c):\n    assert c() == 'x' * {len(blob)}\n",
        entry_point="f",
    )
    assert result.status == "passed", result.message


def test_test_objects_never_reach_the_solution():
    """Plain arguments arrive as copies; the tests' list is updated from a checked copy of the result."""
    result = _run(
        """
        seen = []

        def f(xs, table):
            seen.append((xs, table))
            xs.append(len(seen))
            table['n'] = len(seen)
        """,
        """
        def check(candidate):
            xs, table = [0], {}
            candidate(xs, table)
            assert xs == [0, 1] and table == {'n': 1}
            candidate(xs, table)
            assert xs == [0, 1, 2] and table == {'n': 2}
        """,
        entry_point="f",
    )
    assert result.status == "passed", result.message


def test_a_row_whose_tests_do_not_compile_is_an_error_not_a_failure():
    result = _run("def f():\n    return 1\n", "def check(candidate)\n    pass\n", entry_point="f")
    assert result.status == "error" and "tests do not compile" in result.message
