"""DPO through TRL's ``DPOTrainer``: full fine-tune or LoRA, CPU or GPU picked automatically.

TRL defaults to bf16 mixed precision, which fails or crawls on CPUs; we choose precision from the hardware
(bf16 on capable GPUs, fp32 elsewhere). Checkpoints are safetensors directories loadable with
``AutoModelForCausalLM.from_pretrained``; with LoRA the adapter is saved too, and the checkpoint is the merged
model so downstream code never needs peft. Training resumes from the last ``checkpoint-*`` in its folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import Problem
from rlaif.hardware import prepare_tokenizer
from rlaif.optimizers.common import (
    TrainerOptions,
    lora_config,
    precision_flags,
    preference_lengths,
    save_checkpoint,
    train_and_save,
    trainer_arguments,
    trainer_option_problems,
)
from rlaif.options import defaults, option
from rlaif.protocols import TrainRequest, TrainResult

__all__ = [
    "DPOOptions",
    "DPOOptimizer",
    "dpo_factory",
    "precision_flags",
    "lora_config",
    "save_checkpoint",
]


@dataclass
class DPOOptions(TrainerOptions):
    """DPO options (TRL ``DPOConfig`` underneath; anything else goes in ``trl_args``)."""

    learning_rate: float = option(5e-6, "Peak learning rate.", exclusiveMinimum=0)
    per_device_train_batch_size: int = option(
        1,
        "Pairs per forward pass. The logits of a batch (tokens x 49k vocabulary) dominate memory, so the default "
        "is 1 pair with gradient accumulation making the step 4 pairs: same update, measured 6.2 -> 4.3 GB peak "
        "on the default run's pairs (docs/benchmarks.md).",
        minimum=1,
    )
    gradient_accumulation_steps: int = option(
        4, "Batches summed into one optimizer step (pairs per step = this x batch size).", minimum=1
    )
    trl_args: dict[str, Any] = option({}, "Any other DPOConfig field, passed through.")
    beta: float = option(0.1, "KL strength of DPO.", exclusiveMinimum=0)
    loss_type: str = option("sigmoid", "TRL loss type (sigmoid, ipo, ...).")
    precompute_ref_log_probs: bool | None = option(
        None,
        "Score every pair under the reference model once before training, so no second copy of the model is "
        "kept during training (-0.5 GB for the embedded model, and faster; same loss). Default (null): on for "
        "single-process training, off under a multi-process `accelerate launch`, where TRL's precompute cannot "
        "share an in-memory dataset's cache files between processes.",
    )
    max_length: int = option(512, "Prompt + response tokens.", minimum=8)


def check_options(options: dict[str, Any]) -> list[Problem]:
    """Settings the schema allows but training cannot run with; found before any generation starts."""
    return trainer_option_problems(options, DPOOptions, "DPOConfig")


def precompute_reference(opts: dict[str, Any]) -> bool:
    """The ``precompute_ref_log_probs`` option, with its default decided by the number of processes."""
    if opts["precompute_ref_log_probs"] is not None:
        return bool(opts["precompute_ref_log_probs"])
    return int(os.environ.get("WORLD_SIZE", "1")) == 1


class DPOOptimizer:
    """Direct Preference Optimization on (prompt, chosen, rejected) pairs."""

    name = "dpo"
    needs = "pairs"

    def __init__(self, **options: Any):
        self.options = {**defaults(DPOOptions), **options}

    def train(self, request: TrainRequest) -> TrainResult:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import DPOConfig, DPOTrainer

        opts = self.options
        output_dir = Path(request.output_dir)
        trainer_dir = output_dir / "trainer"
        tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(request.policy, local_files_only=True))
        model = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
        args = DPOConfig(
            **trainer_arguments(opts, trainer_dir, request.seed),
            beta=opts["beta"],
            loss_type=[opts["loss_type"]] if isinstance(opts["loss_type"], str) else opts["loss_type"],
            max_length=opts["max_length"],
            **{"precompute_ref_log_probs": precompute_reference(opts), **opts["trl_args"]},
        )
        columns = ["prompt", "chosen", "rejected"]
        dataset = request.pairs.select_columns(columns)
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(opts["lora"]),
        )
        return train_and_save(
            trainer, tokenizer, output_dir, bool(opts["lora"]), request.resume, **preference_lengths(dataset)
        )


def dpo_factory(options: dict[str, Any]) -> DPOOptimizer:
    """DPO via TRL's DPOTrainer (full fine-tune or LoRA)."""
    return DPOOptimizer(**options)
