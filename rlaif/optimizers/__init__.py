"""Built-in optimizers, registered through ``register_optimizers`` like any plugin's."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl
from rlaif.optimizers import dpo, grpo, ppo


@hookimpl
def register_optimizers(register):
    register(
        "dpo",
        dpo.dpo_factory,
        description="Direct Preference Optimization (TRL DPOTrainer), full fine-tune or LoRA",
        options_schema=dpo.OPTIONS_SCHEMA,
    )
    register(
        "grpo",
        grpo.grpo_factory,
        description="Group Relative Policy Optimization (TRL GRPOTrainer) on rewards and scoring judges",
        options_schema=grpo.OPTIONS_SCHEMA,
    )
    register(
        "ppo",
        ppo.ppo_factory,
        description="Actor-critic PPO (rlaif's own: value head, GAE, adaptive KL), rewards and scoring judges",
        options_schema=ppo.OPTIONS_SCHEMA,
    )
