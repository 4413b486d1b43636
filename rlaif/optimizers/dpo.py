"""DPO through TRL's ``DPOTrainer``: full fine-tune or LoRA, CPU or GPU picked automatically.

TRL defaults to bf16 mixed precision, which fails or crawls on CPUs; we choose precision from the hardware
(bf16 on capable GPUs, fp32 elsewhere). Checkpoints are safetensors directories loadable with
``AutoModelForCausalLM.from_pretrained``; with LoRA the adapter is saved too, and the checkpoint is the merged
model so downstream code never needs peft. Training resumes from the last ``checkpoint-*`` in its folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.protocols import TrainRequest, TrainResult

LORA_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "r": {"type": "integer", "minimum": 1, "default": 16},
        "alpha": {"type": "integer", "minimum": 1, "default": 32},
        "dropout": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.05},
        "target_modules": {
            "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
            "default": "all-linear",
        },
    },
}

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "beta": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 0.1,
            "description": "KL strength of DPO.",
        },
        "loss_type": {
            "type": "string",
            "default": "sigmoid",
            "description": "TRL loss type (sigmoid, ipo, ...).",
        },
        "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 5e-6},
        "num_train_epochs": {"type": "number", "exclusiveMinimum": 0, "default": 1},
        "max_steps": {
            "type": "integer",
            "default": -1,
            "description": "Stop after N steps (-1: epochs decide).",
        },
        "per_device_train_batch_size": {"type": "integer", "minimum": 1, "default": 4},
        "gradient_accumulation_steps": {"type": "integer", "minimum": 1, "default": 1},
        "max_length": {
            "type": "integer",
            "minimum": 8,
            "default": 512,
            "description": "Prompt + response tokens.",
        },
        "warmup_steps": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "description": "Linear warmup: an integer number of steps, or a fraction in [0, 1) of all steps.",
        },
        "lr_scheduler_type": {"type": "string", "default": "linear"},
        "gradient_checkpointing": {"type": "boolean", "default": False},
        "save_steps": {
            "type": "integer",
            "minimum": 1,
            "default": 50,
            "description": "Checkpoint every N steps (resume point).",
        },
        "logging_steps": {"type": "integer", "minimum": 1, "default": 1},
        "report_to": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "default": "none",
        },
        "lora": {
            "anyOf": [{"type": "null"}, LORA_SCHEMA],
            "default": None,
            "description": "LoRA settings; null = full fine-tune.",
        },
        "trl_args": {
            "type": "object",
            "default": {},
            "description": "Any other DPOConfig field, passed through.",
        },
    },
}


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value["default"] for key, value in schema["properties"].items() if "default" in value}


def precision_flags() -> dict[str, Any]:
    """bf16 where the GPU supports it, plain fp32 on CPU (TRL's bf16 default would otherwise apply)."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16, "use_cpu": False}
    return {"bf16": False, "fp16": False, "use_cpu": True}


def lora_config(options: dict[str, Any] | None) -> Any:
    if not options:
        return None
    from peft import LoraConfig

    settings = {**_defaults(LORA_SCHEMA), **options}
    return LoraConfig(
        r=settings["r"],
        lora_alpha=settings["alpha"],
        lora_dropout=settings["dropout"],
        target_modules=settings["target_modules"],
        task_type="CAUSAL_LM",
    )


def save_checkpoint(trainer: Any, tokenizer: Any, output_dir: Path, lora: bool) -> Path:
    """Write ``checkpoint/`` (a full model) and, for LoRA, ``adapter/``; only the main process writes."""
    checkpoint = output_dir / "checkpoint"
    if lora:
        trainer.save_model(str(output_dir / "adapter"))
        if trainer.is_world_process_zero():
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(str(checkpoint), safe_serialization=True)
    else:
        trainer.save_model(str(checkpoint))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(checkpoint))
    return checkpoint


def last_checkpoint(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def train_metrics(trainer: Any, result: Any) -> dict[str, Any]:
    metrics = dict(result.metrics)
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    if logs:
        metrics["first_loss"] = logs[0]["loss"]
        metrics["last_loss"] = logs[-1]["loss"]
        for key in ("rewards/accuracies", "rewards/margins"):
            if key in logs[-1]:
                metrics[f"last_{key.replace('/', '_')}"] = logs[-1][key]
    metrics["global_step"] = trainer.state.global_step
    return metrics


class DPOOptimizer:
    """Direct Preference Optimization on (prompt, chosen, rejected) pairs."""

    name = "dpo"
    needs = "pairs"

    def __init__(self, **options: Any):
        self.options = {**_defaults(OPTIONS_SCHEMA), **options}

    def train(self, request: TrainRequest) -> TrainResult:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import DPOConfig, DPOTrainer

        opts = self.options
        output_dir = Path(request.output_dir)
        trainer_dir = output_dir / "trainer"
        tokenizer = AutoTokenizer.from_pretrained(request.policy, local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
        args = DPOConfig(
            output_dir=str(trainer_dir),
            beta=opts["beta"],
            loss_type=[opts["loss_type"]] if isinstance(opts["loss_type"], str) else opts["loss_type"],
            learning_rate=opts["learning_rate"],
            num_train_epochs=opts["num_train_epochs"],
            max_steps=opts["max_steps"],
            per_device_train_batch_size=opts["per_device_train_batch_size"],
            gradient_accumulation_steps=opts["gradient_accumulation_steps"],
            max_length=opts["max_length"],
            warmup_steps=opts["warmup_steps"],
            lr_scheduler_type=opts["lr_scheduler_type"],
            gradient_checkpointing=opts["gradient_checkpointing"],
            save_strategy="steps",
            save_steps=opts["save_steps"],
            save_total_limit=1,
            logging_steps=opts["logging_steps"],
            report_to=opts["report_to"],
            seed=request.seed,
            disable_tqdm=False,
            **precision_flags(),
            **opts["trl_args"],
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
        resume = last_checkpoint(trainer_dir) if request.resume else None
        result = trainer.train(resume_from_checkpoint=resume)
        checkpoint = save_checkpoint(trainer, tokenizer, output_dir, lora=bool(opts["lora"]))
        metrics = train_metrics(trainer, result)
        metrics["resumed_from"] = resume
        return TrainResult(
            checkpoint=checkpoint, metrics=metrics, log_history=list(trainer.state.log_history)
        )


def dpo_factory(options: dict[str, Any]) -> DPOOptimizer:
    """DPO via TRL's DPOTrainer (full fine-tune or LoRA)."""
    return DPOOptimizer(**options)
