"""Built-in judges, registered through ``register_judges`` like any plugin's."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl
from rlaif.judges import pairwise


@hookimpl
def register_judges(register):
    register(
        "pairwise",
        pairwise.pairwise_factory,
        description="A/B verdict from answer-label log-probs, both orders averaged (position-bias control)",
        options_schema=pairwise.OPTIONS_SCHEMA,
    )
