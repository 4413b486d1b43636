"""GRPO through TRL's ``GRPOTrainer``: sample a group of completions per prompt, score them, push up the ones
that beat their group's mean.

Rewards are any mix of registered rewards, judges used as scorers (direct RLAIF) and reward functions the
caller passes (see :mod:`rlaif.optimizers.scorers`), each with a weight. Precision, LoRA and the checkpoint
layout are the same as DPO's (:mod:`rlaif.optimizers.common`). On GPU, generation can move to a vLLM server
(``trl vllm-serve``) with ``trl_args: {use_vllm: true, vllm_mode: server}`` -- see docs/optimizers.md.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlaif.errors import Problem
from rlaif.hardware import prepare_tokenizer
from rlaif.optimizers.common import (
    OnlineOptions,
    TrainerOptions,
    kl_early_stop_callback,
    lora_config,
    option_names,
    train_and_save,
    trainer_arguments,
)
from rlaif.optimizers.online import online_scorers
from rlaif.optimizers.scorers import hack_metrics, scorer_problems
from rlaif.options import defaults, option
from rlaif.protocols import TrainRequest, TrainResult


@dataclass
class GRPOOptions(OnlineOptions, TrainerOptions):
    """GRPO options (TRL ``GRPOConfig`` underneath; anything else goes in ``trl_args``)."""

    per_device_train_batch_size: int = option(
        4, "Completions per device per step (a multiple of num_generations over the global batch).", minimum=1
    )
    trl_args: dict[str, Any] = option(
        {}, "Any other GRPOConfig field, passed through (use_vllm, vllm_mode, ...)."
    )
    beta: float = option(
        0.04, "KL penalty to the reference (0: no reference model, KL not monitored).", minimum=0
    )
    num_generations: int = option(4, "Group size.", minimum=2)
    max_completion_length: int = option(64, "Tokens per sampled completion.", minimum=1)
    temperature: float = option(1.0, "Sampling temperature.", exclusiveMinimum=0)
    top_p: float = option(1.0, "Nucleus sampling.", exclusiveMinimum=0, maximum=1)
    num_iterations: int = option(1, "Updates per generation batch (PPO-style inner epochs).", minimum=1)
    epsilon: float = option(0.2, "Clip range.", exclusiveMinimum=0)
    loss_type: str = option("dapo", "TRL loss (grpo, dapo, dr_grpo, ...).")
    scale_rewards: Literal["group", "batch", "none"] = option(
        "group", "Divide advantages by the reward std of the group / batch, or not."
    )


def _field_of(message: str) -> str:
    """The option a TRL config error is about: the first rlaif option, else ``trl_args`` field, it names."""
    import re

    names = re.findall(r"[a-z_]+", message)
    for name in names:
        if name in option_names(GRPOOptions) and name != "trl_args":
            return f"optimizer.options.{name}"
    return "optimizer.options.trl_args"


class GRPOOptimizer:
    """Group Relative Policy Optimization on prompts, scored by rewards and judges."""

    name = "grpo"
    needs = "prompts"

    def __init__(self, **options: Any):
        self.options = {**defaults(GRPOOptions), **options}

    def check(self, options: dict[str, Any] | None = None, registry: Any = None) -> list[Problem]:
        """Impossible settings, found before any model loads: TRL's own ``GRPOConfig`` checks (group size vs
        batch, ...) turned into Problems naming the option, plus ours (kl_limit, unknown scorers)."""
        opts = {**defaults(GRPOOptions), **(options if options is not None else self.options)}
        problems = []
        try:
            self._grpo_config(opts, Path(tempfile.gettempdir()) / "rlaif-grpo-check", seed=0)
        except (ValueError, TypeError) as exc:
            problems.append(
                Problem(f"TRL's GRPOConfig refuses these settings: {exc}", where=_field_of(str(exc)))
            )
        if opts["kl_limit"] is not None and opts["beta"] == 0:
            problems.append(
                Problem(
                    "kl_limit needs beta > 0 (with beta 0 there is no reference model, so no KL is logged)",
                    where="optimizer.options.kl_limit",
                )
            )
        if registry is not None:
            problems += scorer_problems(opts, registry, self.name)
        return problems

    @staticmethod
    def _grpo_config(opts: dict[str, Any], trainer_dir: Path, seed: int, reward_weights: Any = None) -> Any:
        import warnings

        from trl import GRPOConfig

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return GRPOConfig(
                **trainer_arguments(opts, trainer_dir, seed),
                beta=opts["beta"],
                num_generations=opts["num_generations"],
                max_completion_length=opts["max_completion_length"],
                temperature=opts["temperature"],
                top_p=opts["top_p"],
                num_iterations=opts["num_iterations"],
                epsilon=opts["epsilon"],
                loss_type=opts["loss_type"],
                scale_rewards=opts["scale_rewards"],
                reward_weights=reward_weights,
                **opts["trl_args"],
            )

    def train(self, request: TrainRequest) -> TrainResult:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import GRPOTrainer

        opts = self.options
        funcs, weights = online_scorers(self, request)
        output_dir = Path(request.output_dir)
        trainer_dir = output_dir / "trainer"
        tokenizer = AutoTokenizer.from_pretrained(request.policy, local_files_only=True)
        prepare_tokenizer(tokenizer, "left")
        model = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
        args = self._grpo_config(opts, trainer_dir, request.seed, reward_weights=weights)
        callback = kl_early_stop_callback(opts["kl_limit"])
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=funcs,
            args=args,
            train_dataset=request.prompts,
            processing_class=tokenizer,
            peft_config=lora_config(opts["lora"]),
            callbacks=[callback] if callback else None,
        )
        result = train_and_save(trainer, tokenizer, output_dir, bool(opts["lora"]), request.resume)
        # both are known only after training: when the KL limit stopped it, and the hacks the rewards caught
        result.metrics["kl_early_stop_step"] = getattr(callback, "stopped_at", None)
        result.metrics.update(hack_metrics(funcs))
        return result


def grpo_factory(options: dict[str, Any]) -> GRPOOptimizer:
    """GRPO via TRL's GRPOTrainer, rewards from registered rewards and judges."""
    return GRPOOptimizer(**options)
