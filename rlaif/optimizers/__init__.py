"""Built-in optimizers, registered through ``register_optimizers`` like any plugin's."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl
from rlaif.optimizers import dpo


@hookimpl
def register_optimizers(register):
    register(
        "dpo",
        dpo.dpo_factory,
        description="Direct Preference Optimization (TRL DPOTrainer), full fine-tune or LoRA",
        options_schema=dpo.OPTIONS_SCHEMA,
    )
