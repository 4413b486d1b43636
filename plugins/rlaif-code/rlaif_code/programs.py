"""Turn a completion plus a dataset row into one self-checking Python program.

Two dataset conventions are understood, chosen by which columns the row has:

* **HumanEval** (``test`` + ``entry_point``): ``prefix + completion + test + check(entry_point)``. The prefix
  is the ``code_prefix`` column, else the ``prompt`` when it is a plain string (HumanEval's prompt is the
  function header the completion continues). Prepending it is harmless when the completion repeats the
  whole function: the header-plus-docstring is a valid definition that the completion's simply replaces.
* **MBPP** (``test_list`` [+ ``test_imports``, ``test_setup_code``]): ``imports + code + asserts``. MBPP's
  prompt is prose, so it is never prepended.
* A bare ``test`` column (no entry point) is appended after the code as is.
"""

from __future__ import annotations

import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


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


def build_program(completion: str, row: dict[str, Any], use_prompt: bool = True) -> str | None:
    """The program to run, or None when the row carries no tests."""
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
        prefix = row.get("code_prefix")
        if prefix is None and use_prompt and isinstance(row.get("prompt"), str):
            # A fenced full solution replaces the header, so the header goes first either way.
            prefix = row["prompt"]
        body = code if prefix is None or code.startswith((" ", "\t")) else "\n" + code
        return f"{prefix or ''}{body}\n\n{test}\n\ncheck({entry_point})\n"
    return f"{code}\n\n{test}\n"
