"""Turn a completion plus a dataset row into a self-checking program: the solution and the tests, kept apart.

Two dataset conventions are understood, chosen by which columns the row has:

* **HumanEval** (``test`` + ``entry_point``): solution ``prefix + completion``, tests ``test`` +
  ``check(entry_point)``. The prefix is the ``code_prefix`` column, else the ``prompt`` when it is a plain
  string (HumanEval's prompt is the function header the completion continues). Prepending it is harmless
  when the completion repeats the whole function: the header-plus-docstring is a valid definition that the
  completion's simply replaces.
* **MBPP** (``test_list`` [+ ``test_imports``, ``test_setup_code``]): solution ``imports + setup + code``,
  tests the asserts. MBPP's prompt is prose, so it is never prepended.
* A bare ``test`` column (no entry point) is run after the code as is.

The sandbox runs the two parts in separate namespaces (see ``_harness.py``): the tests never share globals
with the solution, see only plain data coming back from it, and use their own copies of the builtins and
of the modules they import -- so a solution cannot redefine ``abs``, patch ``math.isclose`` or hand back
an object whose ``__eq__`` always answers True. The row's own code (prefix, imports, setup) is trusted and
also runs, separately, on the tests' side: a helper such as HumanEval/32's ``poly`` comes from the row,
not from a solution that redefined it.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_BUILTIN_NAMES = frozenset(dir(builtins))


def extract_code(text: str) -> str:
    """The code in a completion: the first Python (or unlabelled) fenced block that defines something,
    else the first such block, else the whole text (completions without fences are code already)."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    python = [body for lang, body in blocks if lang in ("", "python", "py", "python3")]
    for body in python:
        if re.search(r"^\s*(def|class|import|from)\s", body, re.MULTILINE):
            return body
    if python:
        return python[0]
    return text


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


@dataclass(frozen=True)
class TestProgram:
    """A solution (untrusted) and the tests that judge it (trusted), run apart in the sandbox.

    ``setup`` runs first on the tests' side (MBPP ``test_imports`` / ``test_setup_code``; it is also at the
    top of ``solution``, which may rely on it). ``helpers`` is trusted code whose definitions the tests use
    in preference to the solution's (HumanEval's prompt). ``entry_point`` names the function under test
    when the row says so. ``names`` are the globals the tests read without defining them: each is bound
    from the setup, the helpers, the builtins or -- behind the plain-data boundary -- the solution.
    ``modules`` are imported (and copied for the trusted code) before the solution runs; the classes of
    ``test_modules`` (those the tests and setup import) are watched for patches too.
    """

    __test__ = False  # not a pytest test class, despite the name

    solution: str
    tests: str
    setup: str = ""
    helpers: str = ""
    entry_point: str | None = None
    names: tuple[str, ...] = field(default=())
    modules: tuple[str, ...] = field(default=())
    test_modules: tuple[str, ...] = field(default=())

    @property
    def source(self) -> str:
        """The whole program as one file (what :func:`build_program` returns), for display."""
        return f"{self.solution}\n\n{self.tests}\n" if self.tests else self.solution

    def payload(self) -> dict[str, Any]:
        """What the sandbox sends to the harness (as JSON, through a pipe -- never a file)."""
        return {
            "solution": self.solution,
            "tests": self.tests,
            "setup": self.setup,
            "helpers": self.helpers,
            "entry_point": self.entry_point,
            "names": list(self.names),
            "modules": list(self.modules),
            "test_modules": list(self.test_modules),
        }


def free_globals(source: str) -> list[str]:
    """Global names ``source`` reads but never binds at module level (sorted); [] if it does not parse.

    These are what the tests expect from their environment: the function under test, helpers, builtins.
    """
    try:
        top = symtable.symtable(source, "<tests>", "exec")
    except (SyntaxError, ValueError):
        return []
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    bound |= {child.get_name() for child in top.get_children()}  # def / class at module level
    used: set[str] = set()
    stack = [top]
    while stack:
        table = stack.pop()
        for symbol in table.get_symbols():
            if not symbol.is_referenced():
                continue
            if table.get_type() == "module" or symbol.is_global():
                used.add(symbol.get_name())
        stack.extend(table.get_children())
    return sorted(used - bound)


def imported_modules(*sources: str) -> list[str]:
    """Absolute module names imported anywhere in ``sources`` (sorted; unparsable sources add nothing).

    The harness imports these before the solution runs and gives the trusted code private copies of them.
    """
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return sorted(names)


def _humaneval_prefix(row: dict[str, Any], use_prompt: bool) -> str | None:
    prefix = row.get("code_prefix")
    if prefix is None and use_prompt and isinstance(row.get("prompt"), str):
        # A fenced full solution replaces the header, so the header goes first either way.
        prefix = row["prompt"]
    return prefix


def build_test_program(completion: str, row: dict[str, Any], use_prompt: bool = True) -> TestProgram | None:
    """The solution and tests to run, or None when the row carries no tests."""
    code = extract_code(completion)
    if row.get("test_list"):
        setup = "\n".join([*_as_list(row.get("test_imports")), *_as_list(row.get("test_setup_code"))])
        tests = "\n".join(_as_list(row["test_list"])) + "\n"
        solution = "\n".join([setup, code]) if setup else code
        return _finish(solution + "\n", tests, setup=setup, entry_point=row.get("entry_point"))
    test = row.get("test")
    if not test:
        return None
    entry_point = row.get("entry_point")
    if entry_point:
        prefix = _humaneval_prefix(row, use_prompt)
        body = code if prefix is None or code.startswith((" ", "\t")) else "\n" + code
        tests = f"{test}\n\ncheck({entry_point})\n"
        return _finish(f"{prefix or ''}{body}\n", tests, helpers=prefix or "", entry_point=entry_point)
    return _finish(f"{code}\n", f"{test}\n")


def _finish(
    solution: str, tests: str, setup: str = "", helpers: str = "", entry_point: str | None = None
) -> TestProgram:
    names = free_globals(tests)
    if entry_point and entry_point not in names:
        names.append(entry_point)
    return TestProgram(
        solution=solution,
        tests=tests,
        setup=setup,
        helpers=helpers,
        entry_point=entry_point,
        names=tuple(names),
        modules=tuple(imported_modules(tests, setup, helpers)),
        test_modules=tuple(imported_modules(tests, setup)),
    )


def build_program(completion: str, row: dict[str, Any], use_prompt: bool = True) -> str | None:
    """The program as one file of source (solution, then tests), or None when the row carries no tests.

    Kept for display and for running outside the reward; the reward itself runs :func:`build_test_program`
    so that the tests and the solution stay apart.
    """
    code = extract_code(completion)
    if row.get("test_list"):
        imports = _as_list(row.get("test_imports"))
        setup = _as_list(row.get("test_setup_code"))
        return "\n".join([*imports, *setup, code, *_as_list(row["test_list"])]) + "\n"
    test = row.get("test")
    if not test:
        return None
    entry_point = row.get("entry_point")
    if entry_point:
        prefix = _humaneval_prefix(row, use_prompt)
        body = code if prefix is None or code.startswith((" ", "\t")) else "\n" + code
        return f"{prefix or ''}{body}\n\n{test}\n\ncheck({entry_point})\n"
    return f"{code}\n\n{test}\n"
