"""Built-in optimizers, registered through ``register_optimizers`` like any plugin's."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl
from rlaif.optimizers import dpo, grpo, ppo, sft


def _online_check(optimizer_class):
    """``check(options)`` for an online optimizer: impossible settings plus unknown reward/judge names."""

    def check(options, registry):
        from dataclasses import replace

        problems = optimizer_class(**options).check(options, registry)
        # config check prefixes the options' own path; the optimizers name the full one
        return [
            replace(p, where=(p.where or "").removeprefix("optimizer.options.") or None) for p in problems
        ]

    return check


@hookimpl
def register_optimizers(register):
    register(
        "dpo",
        dpo.dpo_factory,
        description="Direct Preference Optimization (TRL DPOTrainer), full fine-tune or LoRA",
        options=dpo.DPOOptions,
        check=dpo.check_options,
    )
    register(
        "sft",
        sft.sft_factory,
        description="Supervised fine-tuning on revisions (SL-CAI; TRL SFTTrainer), completion-only loss",
        options=sft.SFTOptions,
        check=sft.check_options,
    )
    register(
        "grpo",
        grpo.grpo_factory,
        description="Group Relative Policy Optimization (TRL GRPOTrainer) on rewards and scoring judges",
        options=grpo.GRPOOptions,
        check=_online_check(grpo.GRPOOptimizer),
    )
    register(
        "ppo",
        ppo.ppo_factory,
        description="Actor-critic PPO (rlaif's own: value head, GAE, adaptive KL), rewards and scoring judges",
        options=ppo.PPOOptions,
        check=_online_check(ppo.PPOOptimizer),
    )
