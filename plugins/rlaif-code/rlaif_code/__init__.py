"""rlaif-code: the ``code`` verifiable reward -- unit tests run against model-written Python, sandboxed."""

from __future__ import annotations

from rlaif.hookspecs import Register, hookimpl
from rlaif_code.programs import TestProgram, build_program, build_test_program, extract_code
from rlaif_code.reward import OPTIONS_SCHEMA, CodeReward, make_code
from rlaif_code.sandbox import Limits, SandboxResult, run_python

__all__ = [
    "CodeReward",
    "Limits",
    "SandboxResult",
    "TestProgram",
    "build_program",
    "build_test_program",
    "extract_code",
    "make_code",
    "run_python",
]


@hookimpl
def register_rewards(register: Register) -> None:
    """Register ``code``."""
    register(
        "code",
        make_code,
        description="completion passes the row's unit tests (sandboxed Python)",
        options_schema=OPTIONS_SCHEMA,
    )
