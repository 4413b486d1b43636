"""Built-in verifiable rewards (format rules), registered through ``register_rewards``.

Each reward lives in its own small module with its options dataclass (:mod:`rlaif.options`); this module only registers them, adds
the ``rlaif rewards`` command group, and re-exports :func:`build_reward` for constitutions.
"""

from __future__ import annotations

from typing import Any

from rlaif.hookspecs import Register, hookimpl
from rlaif.rewards import contains, exact_match, json_schema, length, regex
from rlaif.rewards.base import Outcome, RowReward, text_of
from rlaif.rewards.build import build_reward

__all__ = ["Outcome", "RowReward", "build_reward", "text_of"]


@hookimpl
def register_rewards(register: Register) -> None:
    """Register the built-in format rewards."""
    register(
        "regex",
        regex.make_regex,
        description="completion matches a regular expression",
        options=regex.RegexOptions,
    )
    register(
        "contains",
        contains.make_contains,
        description="completion contains the given strings",
        options=contains.ContainsOptions,
    )
    register(
        "not-contains",
        contains.make_not_contains,
        description="completion contains none of the given strings",
        options=contains.ContainsOptions,
    )
    register(
        "json-schema",
        json_schema.make_json_schema,
        description="completion is JSON valid against a schema",
        options=json_schema.JsonSchemaOptions,
    )
    register(
        "length",
        length.make_length,
        description="completion length (words/chars) within [min, max]",
        options=length.LengthOptions,
    )
    register(
        "exact-match",
        exact_match.make_exact_match,
        description="completion equals a gold column after normalisation",
        options=exact_match.ExactMatchOptions,
    )


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``rlaif rewards`` (score a dataset with any installed reward)."""
    from rlaif.rewards.cli import rewards

    cli.add_command(rewards)
