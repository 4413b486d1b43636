"""What every trainer-backed optimizer shares: precision, LoRA, checkpoints, resume, metrics, monitors.

One home for the helpers DPO, GRPO (TRL trainers) and PPO (ours) all need, so that CPU/GPU precision, the
checkpoint layout (``checkpoint/`` = full merged model, ``adapter/`` = LoRA adapter) and the reported metrics
are the same whichever optimizer ran.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError, closest
from rlaif.hardware import trainer_precision
from rlaif.optimizers.scorers import SCORER_LIST_SCHEMA
from rlaif.options import defaults, option


class NothingToTrain(RlaifError):
    """The data holds no example this optimizer trains on (SFT on revisions when the judge chose no revision).

    Raised before any model is loaded; a staged run records the stage as skipped and hands its starting
    policy to the next stage.
    """


@dataclass
class LoraOptions:
    """LoRA adapter settings (peft ``LoraConfig``)."""

    r: int = option(16, "Adapter rank.", minimum=1)
    alpha: int = option(32, "Scaling numerator (lora_alpha).", minimum=1)
    dropout: float = option(0.05, "Dropout on the adapter input.", minimum=0, maximum=1)
    target_modules: list[str] | str = option(
        "all-linear", "Modules to adapt: a list of names, or 'all-linear'."
    )


@dataclass
class OptimizerOptions:
    """What every optimizer takes: schedule length, learning rate, checkpoints, loggers, LoRA."""

    learning_rate: float = option(1e-6, "Peak learning rate.", exclusiveMinimum=0)
    num_train_epochs: float = option(1, "Passes over the data (when max_steps is -1).", exclusiveMinimum=0)
    max_steps: int = option(-1, "Stop after N steps (-1: epochs decide).")
    save_steps: int = option(50, "Checkpoint every N steps (resume point).", minimum=1)
    logging_steps: int = option(1, "Log metrics every N steps.", minimum=1)
    report_to: str | list[str] = option(
        "none", "Trainer loggers, e.g. tensorboard (event files under output_dir/trainer/runs)."
    )
    lora: LoraOptions | None = option(None, "LoRA settings; null = full fine-tune.")


@dataclass
class TrainerOptions(OptimizerOptions):
    """Optimizers run by a transformers/TRL ``Trainer``: batch, accumulation, warmup, scheduler, pass-through."""

    per_device_train_batch_size: int = option(1, "Examples per device per forward pass.", minimum=1)
    gradient_accumulation_steps: int = option(1, "Batches summed into one optimizer step.", minimum=1)
    warmup_steps: float = option(
        0, "Linear warmup: an integer number of steps, or a fraction in [0, 1) of all steps.", minimum=0
    )
    lr_scheduler_type: str = option("linear", "transformers scheduler name (linear, cosine, constant, ...).")
    gradient_checkpointing: bool = option(False, "Recompute activations in the backward pass (less memory).")
    trl_args: dict[str, Any] = option({}, "Any other field of the TRL config, passed through.")


@dataclass
class OnlineOptions:
    """Online optimizers (GRPO, PPO) score their own samples: with what, and when to stop drifting."""

    rewards: list[dict[str, Any]] = option(
        [], "Registered rewards: [{name, options, weight}].", schema=SCORER_LIST_SCHEMA
    )
    judges: list[dict[str, Any]] = option(
        [], "Judges used as scorers (need as_reward()): [{name, options, weight}].", schema=SCORER_LIST_SCHEMA
    )
    kl_limit: float | None = option(
        None, "Stop training early once the logged KL to the reference exceeds this."
    )


def option_names(options_class: type) -> set[str]:
    return {field.name for field in dataclasses.fields(options_class)}


SET_BY_RLAIF = (
    "output_dir",
    "save_strategy",
    "save_total_limit",
    "seed",
    "disable_tqdm",
    "bf16",
    "fp16",
    "use_cpu",
)
"""TRL config fields rlaif sets itself (run layout, resume, precision); ``trl_args`` may not override them."""


def trainer_option_problems(options: dict[str, Any], options_class: type, trl_config: str) -> list[Problem]:
    """Settings a TRL-trainer optimizer's schema allows but training cannot run with (``check`` hook):
    a non-positive ``max_steps`` other than -1, and ``trl_args`` keys that are options of their own, set by
    rlaif, or not fields of the TRL config ``trl_config`` (e.g. ``"DPOConfig"``) at all."""
    problems = []
    max_steps = options.get("max_steps", -1)
    if max_steps == 0 or max_steps < -1:
        problems.append(
            Problem(
                f"max_steps is {max_steps}: use a positive number of steps, or -1 to let num_train_epochs decide",
                where="max_steps",
            )
        )
    unknown = []
    for key in options.get("trl_args") or {}:
        if key in option_names(options_class):
            problems.append(
                Problem(
                    f"'{key}' is an option of its own: set optimizer.options.{key}", where=f"trl_args.{key}"
                )
            )
        elif key in SET_BY_RLAIF:
            problems.append(
                Problem(f"'{key}' is set by rlaif (run layout, resume, precision)", where=f"trl_args.{key}")
            )
        else:
            unknown.append(key)
    if unknown:  # only then pay for importing TRL
        import trl

        fields = [field.name for field in dataclasses.fields(getattr(trl, trl_config))]
        for key in unknown:
            if key not in fields:
                suggestion = closest(key, fields)
                hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
                article = "an" if trl_config[0] in "AEIOSU" else "a"
                problems.append(
                    Problem(f"'{key}' is not {article} {trl_config} field{hint}", where=f"trl_args.{key}")
                )
    return problems


def precision_flags() -> dict[str, Any]:
    """bf16 where the GPU supports it, plain fp32 on CPU (TRL's bf16 default would otherwise apply)."""
    return trainer_precision()


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

    settings = {**defaults(LoraOptions), **options}
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


def train_and_save(
    trainer: Any, tokenizer: Any, output_dir: Path, lora: bool, resume: bool, **extra: Any
) -> Any:
    """What every TRL-trainer optimizer does once its trainer is built: train (resuming from the last
    ``checkpoint-*`` under ``output_dir/trainer`` when asked), save ``checkpoint/`` (and ``adapter/``), and
    return a ``TrainResult`` with the shared metrics plus ``extra``."""
    from rlaif.protocols import TrainResult

    resumed_from = last_checkpoint(output_dir / "trainer") if resume else None
    result = trainer.train(resume_from_checkpoint=resumed_from)
    checkpoint = save_checkpoint(trainer, tokenizer, output_dir, lora=lora)
    metrics = train_metrics(trainer, result)
    metrics.update(monitor_metrics(trainer.state.log_history))
    metrics["resumed_from"] = resumed_from
    metrics.update(extra)
    return TrainResult(checkpoint=checkpoint, metrics=metrics, log_history=list(trainer.state.log_history))


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
