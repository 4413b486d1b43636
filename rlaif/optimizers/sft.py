"""Supervised fine-tuning on the critic's revisions (the paper's SL-CAI stage), through TRL's ``SFTTrainer``.

Constitutional AI first fine-tunes the model on its own revised responses, then runs preference training from
that model. This optimizer is the first half: it takes the same pairs dataset DPO does (``needs = "pairs"``)
and trains on ``prompt`` -> ``chosen`` where the chosen side is the revision (``chosen_source: revision``);
with ``train_on: chosen`` it trains on every pair's chosen side (best-of-n winners too). ``rlaif train`` also
takes a plain prompt/completion file. The loss covers the completion only (the prompt tokens are masked), so
the model learns to answer, not to repeat prompts. Precision, LoRA, checkpoint layout and resume are DPO's
(:mod:`rlaif.optimizers.common`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlaif.errors import Problem, RlaifError
from rlaif.hardware import prepare_tokenizer
from rlaif.optimizers.common import (
    NothingToTrain,
    TrainerOptions,
    lora_config,
    train_and_save,
    trainer_arguments,
    trainer_option_problems,
)
from rlaif.options import defaults, option, options_schema
from rlaif.protocols import TrainRequest, TrainResult

__all__ = ["SFTOptions", "SFTOptimizer", "sft_dataset", "sft_factory", "load_sft_file"]


@dataclass
class SFTOptions(TrainerOptions):
    """SFT options (TRL ``SFTConfig`` underneath; anything else goes in ``trl_args``)."""

    learning_rate: float = option(1e-5, "Peak learning rate.", exclusiveMinimum=0)
    gradient_accumulation_steps: int = option(
        4, "Batches summed into one optimizer step (examples per step = this x batch size).", minimum=1
    )
    trl_args: dict[str, Any] = option({}, "Any other SFTConfig field, passed through.")
    train_on: Literal["revisions", "chosen"] = option(
        "revisions",
        "Which pairs train: 'revisions' = those whose chosen side is the critic's revision (chosen_source: "
        "revision; SL-CAI); 'chosen' = the chosen side of every pair. Data without chosen_source (a pairs "
        "file, a prompt/completion file) trains on every row either way.",
    )
    completion_only_loss: bool = option(
        True, "Loss on the response tokens only (the prompt is context, not a target)."
    )
    max_length: int = option(512, "Prompt + response tokens (longer examples are truncated).", minimum=8)


OPTIONS_SCHEMA = options_schema(SFTOptions)


def check_options(options: dict[str, Any]) -> list[Problem]:
    """Settings the schema allows but training cannot run with; found before any generation starts."""
    return trainer_option_problems(options, SFTOptions, "SFTConfig")


def sft_dataset(dataset: Any, train_on: str = "revisions") -> Any:
    """``prompt`` / ``completion`` columns (TRL's prompt-completion format) from pairs or completions.

    Pairs: ``completion`` is the ``chosen`` side, restricted to revisions when ``train_on`` is "revisions"
    and the data says where each chosen side came from (``chosen_source``).
    """
    columns = dataset.column_names
    if "completion" in columns:
        return dataset.select_columns(["prompt", "completion"])
    if "chosen" not in columns:
        raise RlaifError(
            f"SFT needs 'prompt' plus 'completion' (or 'chosen') columns; the data has {', '.join(columns)}"
        )
    if train_on == "revisions" and "chosen_source" in columns:
        dataset = dataset.filter(lambda source: source == "revision", input_columns="chosen_source")
    return dataset.select_columns(["prompt", "chosen"]).rename_column("chosen", "completion")


def load_sft_file(path: Path) -> Any:
    """``rlaif train --optimizer sft``: a prompt/completion JSONL (or dataset dir), or any pairs file."""
    from datasets import Dataset, load_from_disk

    from rlaif.files import iter_jsonl
    from rlaif.records import is_message_list, is_pair

    if path.is_dir():
        try:
            return load_from_disk(str(path))
        except Exception as exc:  # datasets raises several types for "not a dataset directory"
            raise RlaifError(f"{path}: not a dataset saved with `datasets` save_to_disk ({exc})") from None
    rows = []
    for number, record in iter_jsonl(path, "SFT data file"):
        if "status" in record and not is_pair(record):
            continue  # a run's records.jsonl also holds drops
        target = "completion" if "completion" in record else "chosen"
        row = {"prompt": record.get("prompt"), "completion": record.get(target)}
        for key, value in row.items():
            if not (isinstance(value, str) and value.strip()) and not is_message_list(value):
                raise RlaifError(
                    f"{path}: line {number}: '{key if key == 'prompt' else target}' must be a non-empty string "
                    "or a list of {role, content} messages (expected prompt + completion, or a pairs file)"
                )
        if "chosen_source" in record:
            row["chosen_source"] = record["chosen_source"]
        rows.append(row)
    if rows and len({isinstance(row["prompt"], str) for row in rows}) > 1:
        raise RlaifError(f"{path}: mixes plain-text and message-list prompts; use one form throughout")
    dataset = Dataset.from_list(rows)
    if "chosen_source" in dataset.column_names:
        return dataset.rename_column("completion", "chosen")
    return dataset


class SFTOptimizer:
    """Supervised fine-tuning on prompt -> revision (SL-CAI), completion-only loss."""

    name = "sft"
    needs = "pairs"

    def __init__(self, **options: Any):
        self.options = {**defaults(SFTOptions), **options}

    def dataset_from_file(self, path: Path) -> Any:
        """What ``rlaif train`` reads for this optimizer (prompt/completion files as well as pairs)."""
        return load_sft_file(path)

    def train(self, request: TrainRequest) -> TrainResult:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import SFTConfig, SFTTrainer

        opts = self.options
        dataset = sft_dataset(request.pairs, opts["train_on"])
        if len(dataset) == 0:
            raise NothingToTrain(
                "no revision was chosen by the judge, so SFT has nothing to train on",
                hint="Set train_on: chosen to train on every pair's chosen side.",
            )
        output_dir = Path(request.output_dir)
        trainer_dir = output_dir / "trainer"
        tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(request.policy, local_files_only=True))
        model = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
        args = SFTConfig(
            **trainer_arguments(opts, trainer_dir, request.seed),
            completion_only_loss=opts["completion_only_loss"],
            max_length=opts["max_length"],
            **opts["trl_args"],
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(opts["lora"]),
        )
        return train_and_save(
            trainer,
            tokenizer,
            output_dir,
            bool(opts["lora"]),
            request.resume,
            examples=len(dataset),
            completion_mean_words=_mean_words(dataset["completion"]),
        )


def _mean_words(values: list[Any]) -> float:
    from rlaif.rewards.base import text_of

    return sum(len(text_of(value).split()) for value in values) / max(len(values), 1)


def sft_factory(options: dict[str, Any]) -> SFTOptimizer:
    """Supervised fine-tuning via TRL's SFTTrainer on revisions (SL-CAI), full fine-tune or LoRA."""
    return SFTOptimizer(**options)
