"""GRPO through TRL's ``GRPOTrainer``: sample a group of completions per prompt, score them, push up the ones
that beat their group's mean.

Rewards are any mix of registered rewards, judges used as scorers (direct RLAIF) and reward functions the
caller passes (see :mod:`rlaif.optimizers.scorers`), each with a weight. Precision, LoRA and the checkpoint
layout are the same as DPO's (:mod:`rlaif.optimizers.common`). On GPU, generation can move to a vLLM server
(``trl vllm-serve``) with ``trl_args: {use_vllm: true, vllm_mode: server}`` -- see docs/optimizers.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.errors import Problem
from rlaif.optimizers.common import (
    LORA_SCHEMA,
    defaults,
    kl_early_stop_callback,
    last_checkpoint,
    lora_config,
    monitor_metrics,
    save_checkpoint,
    train_metrics,
    trainer_arguments,
)
from rlaif.optimizers.online import online_scorers
from rlaif.optimizers.scorers import SCORER_LIST_SCHEMA, scorer_problems
from rlaif.protocols import TrainRequest, TrainResult

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rewards": {**SCORER_LIST_SCHEMA, "description": "Registered rewards: [{name, options, weight}]."},
        "judges": {
            **SCORER_LIST_SCHEMA,
            "description": "Judges used as scorers (need as_reward()): [{name, options, weight}].",
        },
        "beta": {
            "type": "number",
            "minimum": 0,
            "default": 0.04,
            "description": "KL penalty to the reference (0: no reference model, KL not monitored).",
        },
        "num_generations": {"type": "integer", "minimum": 2, "default": 4, "description": "Group size."},
        "max_completion_length": {"type": "integer", "minimum": 1, "default": 64},
        "temperature": {"type": "number", "exclusiveMinimum": 0, "default": 1.0},
        "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1.0},
        "num_iterations": {
            "type": "integer",
            "minimum": 1,
            "default": 1,
            "description": "Updates per generation batch (PPO-style inner epochs).",
        },
        "epsilon": {"type": "number", "exclusiveMinimum": 0, "default": 0.2, "description": "Clip range."},
        "loss_type": {
            "type": "string",
            "default": "dapo",
            "description": "TRL loss (grpo, dapo, dr_grpo, ...).",
        },
        "scale_rewards": {
            "type": "string",
            "enum": ["group", "batch", "none"],
            "default": "group",
            "description": "Divide advantages by the reward std of the group / batch, or not.",
        },
        "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 1e-6},
        "num_train_epochs": {"type": "number", "exclusiveMinimum": 0, "default": 1},
        "max_steps": {
            "type": "integer",
            "default": -1,
            "description": "Stop after N steps (-1: epochs decide).",
        },
        "per_device_train_batch_size": {
            "type": "integer",
            "minimum": 1,
            "default": 4,
            "description": "Completions per device per step (a multiple of num_generations over the global batch).",
        },
        "gradient_accumulation_steps": {"type": "integer", "minimum": 1, "default": 1},
        "warmup_steps": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "description": "Linear warmup: an integer number of steps, or a fraction in [0, 1) of all steps.",
        },
        "lr_scheduler_type": {"type": "string", "default": "linear"},
        "gradient_checkpointing": {"type": "boolean", "default": False},
        "save_steps": {"type": "integer", "minimum": 1, "default": 50},
        "logging_steps": {"type": "integer", "minimum": 1, "default": 1},
        "report_to": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "default": "none",
            "description": "Trainer loggers, e.g. tensorboard.",
        },
        "kl_limit": {
            "type": ["number", "null"],
            "default": None,
            "description": "Stop training early once the logged KL to the reference exceeds this.",
        },
        "lora": {"anyOf": [{"type": "null"}, LORA_SCHEMA], "default": None},
        "trl_args": {
            "type": "object",
            "default": {},
            "description": "Any other GRPOConfig field, passed through (use_vllm, vllm_mode, ...).",
        },
    },
}


def _world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


class GRPOOptimizer:
    """Group Relative Policy Optimization on prompts, scored by rewards and judges."""

    name = "grpo"
    needs = "prompts"

    def __init__(self, **options: Any):
        self.options = {**defaults(OPTIONS_SCHEMA), **options}

    def check(self, options: dict[str, Any] | None = None, registry: Any = None) -> list[Problem]:
        """Impossible settings, found before any model loads (group size vs batch, unknown scorers)."""
        opts = {**defaults(OPTIONS_SCHEMA), **(options if options is not None else self.options)}
        trl = opts.get("trl_args") or {}
        problems = []
        group = opts["num_generations"]
        per_device = trl.get("per_device_train_batch_size", opts["per_device_train_batch_size"])
        steps = (
            trl.get("steps_per_generation")
            or trl.get("gradient_accumulation_steps")
            or opts["gradient_accumulation_steps"]
        )
        generation_batch = trl.get("generation_batch_size") or per_device * _world_size() * steps
        if generation_batch % group:
            problems.append(
                Problem(
                    f"the generation batch ({generation_batch} = per_device_train_batch_size {per_device} x "
                    f"{_world_size()} process(es) x {steps} step(s)) is not divisible by num_generations ({group}); "
                    "each prompt's group must fit in one batch",
                    where="optimizer.options.num_generations",
                )
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

    def train(self, request: TrainRequest) -> TrainResult:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import GRPOConfig, GRPOTrainer

        opts = self.options
        funcs, weights = online_scorers(self, request)
        output_dir = Path(request.output_dir)
        trainer_dir = output_dir / "trainer"
        tokenizer = AutoTokenizer.from_pretrained(request.policy, local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        model = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
        args = GRPOConfig(
            **trainer_arguments(opts, trainer_dir, request.seed),
            beta=opts["beta"],
            num_generations=opts["num_generations"],
            max_completion_length=opts["max_completion_length"],
            temperature=opts["temperature"],
            top_p=opts["top_p"],
            num_iterations=opts["num_iterations"],
            epsilon=opts["epsilon"],
            loss_type=opts["loss_type"],
            scale_rewards=opts["scale_rewards"],
            reward_weights=weights,
            **opts["trl_args"],
        )
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
        resume = last_checkpoint(trainer_dir) if request.resume else None
        result = trainer.train(resume_from_checkpoint=resume)
        checkpoint = save_checkpoint(trainer, tokenizer, output_dir, lora=bool(opts["lora"]))
        metrics = train_metrics(trainer, result)
        metrics.update(monitor_metrics(trainer.state.log_history))
        metrics["resumed_from"] = resume
        metrics["kl_early_stop_step"] = getattr(callback, "stopped_at", None)
        return TrainResult(
            checkpoint=checkpoint, metrics=metrics, log_history=list(trainer.state.log_history)
        )


def grpo_factory(options: dict[str, Any]) -> GRPOOptimizer:
    """GRPO via TRL's GRPOTrainer, rewards from registered rewards and judges."""
    return GRPOOptimizer(**options)
