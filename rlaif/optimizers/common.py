"""What every trainer-backed optimizer shares: precision, LoRA, checkpoints, resume, metrics, monitors.

One home for the helpers DPO, GRPO (TRL trainers) and PPO (ours) all need, so that CPU/GPU precision, the
checkpoint layout (``checkpoint/`` = full merged model, ``adapter/`` = LoRA adapter) and the reported metrics
are the same whichever optimizer ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value["default"] for key, value in schema["properties"].items() if "default" in value}


def precision_flags() -> dict[str, Any]:
    """bf16 where the GPU supports it, plain fp32 on CPU (TRL's bf16 default would otherwise apply)."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16, "use_cpu": False}
    return {"bf16": False, "fp16": False, "use_cpu": True}


def checkpointing_argument(enabled: bool) -> dict[str, bool]:
    """Activation checkpointing under the name this transformers takes (``gradient_checkpointing`` is a
    deprecated alias in newer versions, which warn on every run that sets it)."""
    import dataclasses

    from transformers import TrainingArguments

    names = {field.name for field in dataclasses.fields(TrainingArguments)}
    return {
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing": enabled
    }


def trainer_arguments(opts: dict[str, Any], output_dir: Path, seed: int) -> dict[str, Any]:
    """The ``TrainingArguments`` fields every TRL-based optimizer sets the same way.

    Schedule and batch come from the options; the run layout (one ``checkpoint-*`` kept for resume), seed and
    precision are rlaif's. Callers add their trainer's own fields and ``trl_args`` last.
    """
    return {
        "output_dir": str(output_dir),
        "learning_rate": opts["learning_rate"],
        "num_train_epochs": opts["num_train_epochs"],
        "max_steps": opts["max_steps"],
        "per_device_train_batch_size": opts["per_device_train_batch_size"],
        "gradient_accumulation_steps": opts["gradient_accumulation_steps"],
        "warmup_steps": opts["warmup_steps"],
        "lr_scheduler_type": opts["lr_scheduler_type"],
        **checkpointing_argument(opts["gradient_checkpointing"]),
        "save_strategy": "steps",
        "save_steps": opts["save_steps"],
        "save_total_limit": 1,
        "logging_steps": opts["logging_steps"],
        "report_to": opts["report_to"],
        "seed": seed,
        "disable_tqdm": False,
        **precision_flags(),
    }


def lora_config(options: dict[str, Any] | None) -> Any:
    if not options:
        return None
    from peft import LoraConfig

    settings = {**defaults(LORA_SCHEMA), **options}
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
    metrics["num_processes"] = trainer.accelerator.num_processes
    return metrics


MONITORED_KEYS = (
    "kl",
    "reward",
    "reward_std",
    "entropy",
    "completions/mean_length",
    "completions/clipped_ratio",
    "rewards/accuracies",
    "rewards/margins",
    "rewards/chosen",
    "rewards/rejected",
)
"""Log keys copied into the run's metrics as ``first_*``/``last_*`` (drift shows between the two)."""


def monitor_metrics(log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """First and last value of each monitored key (KL to the reference, reward, entropy, length drift)."""
    metrics: dict[str, Any] = {}
    for key in MONITORED_KEYS:
        values = [entry[key] for entry in log_history if isinstance(entry.get(key), int | float)]
        if values:
            name = key.replace("/", "_")
            metrics[f"first_{name}"] = values[0]
            metrics[f"last_{name}"] = values[-1]
    return metrics


def kl_early_stop_callback(limit: float | None, key: str = "kl") -> Any:
    """A ``TrainerCallback`` that stops training once the logged KL to the reference exceeds ``limit``.

    A policy that drifts far from its reference usually has found a reward hack; stopping keeps the last sane
    checkpoint instead of training on. Returns None when no limit is set.
    """
    if limit is None:
        return None
    from transformers import TrainerCallback

    class KLEarlyStop(TrainerCallback):
        def __init__(self) -> None:
            self.stopped_at: int | None = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            value = (logs or {}).get(key)
            if isinstance(value, int | float) and value > limit:
                control.should_training_stop = True
                self.stopped_at = state.global_step
                state.log_history.append({"kl_early_stop": float(value), "step": state.global_step})
            return control

    return KLEarlyStop()


def preference_lengths(dataset: Any) -> dict[str, float]:
    """Mean chosen / rejected response length in words (a DPO policy learning "longer wins" shows here)."""
    from rlaif.rewards.base import text_of

    if dataset is None or len(dataset) == 0:
        return {}
    out = {}
    for column in ("chosen", "rejected"):
        if column in dataset.column_names:
            lengths = [len(text_of(value).split()) for value in dataset[column]]
            out[f"{column}_mean_words"] = sum(lengths) / len(lengths)
    return out
