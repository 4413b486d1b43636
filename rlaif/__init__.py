"""rlaif: write down what success means (a constitution), generate AI-feedback preference data, train for it.

The public Python API mirrors the CLI::

    from rlaif import load_config, load_constitution, run
    result = run(load_config("rlaif.yaml"))

plus :func:`build_judge`, :func:`build_reward`, :func:`load_chat_model` and :func:`load_registry` for using one
piece by name (see :mod:`rlaif.api`). Plugins only need ``from rlaif import hookimpl``, which stays light: the
API is imported on first use.
"""

from typing import Any

from rlaif.hookspecs import hookimpl

__version__ = "0.1.0"

_API = (
    "AuditReport",
    "LearnOptions",
    "LearnResult",
    "RunConfig",
    "RunResult",
    "audit_constitution",
    "build_judge",
    "build_reward",
    "learn_constitution",
    "load_chat_model",
    "load_config",
    "load_constitution",
    "load_registry",
    "run",
)

__all__ = ["__version__", "hookimpl", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from rlaif import api

        return getattr(api, name)
    raise AttributeError(f"module 'rlaif' has no attribute {name!r}")
