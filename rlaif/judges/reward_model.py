"""Reward-model judge: a Hugging Face sequence-classification model scores each response, and the way to get
one -- distil an AI judge's pairs into it with TRL's ``RewardTrainer``.

An LLM judge costs a few forward passes (or a rationale) per comparison; a reward model costs one short
forward pass per response and can then score millions of samples or serve as the RL reward. The usual recipe:
run ``rlaif run`` (or ``rlaif generate``) with a careful judge, then ``rlaif judge train-rm pairs.jsonl -o rm/``
and use ``judge: {name: reward-model, options: {path: rm/}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.hardware import prepare_tokenizer, trainer_precision
from rlaif.judges.arithmetic import apply_tie_band, preference_from_scores
from rlaif.judges.score import as_messages, as_text
from rlaif.options import option
from rlaif.protocols import Comparison, Conversation, Reward, Verdict


@dataclass(kw_only=True)
class RewardModelOptions:
    """Options of the reward-model judge."""

    path: str = option(help="Local directory of a sequence-classification model (num_labels=1).")
    batch_size: int = option(8, "Responses per forward pass.", minimum=1)
    max_length: int = option(1024, "Truncate (from the left) to this many tokens.", minimum=8)
    temperature: float = option(1.0, "p_a = logistic((r_a - r_b) / temperature).", exclusiveMinimum=0)
    tie_band: float = option(
        0.0, "p_a within this distance of 0.5 becomes an exact tie.", minimum=0, maximum=0.5
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:1, mps.")
    context_turns: int | None = option(
        None,
        "Keep the last N prompt messages (default: what `train-rm --context-turns` saved).",
        minimum=1,
    )
    threads: int | None = option(None, "CPU threads for torch (process-wide; default: torch's).", minimum=1)


METADATA_FILE = "rlaif-reward-model.json"
"""Written next to a trained reward model: how it was trained, so the judge reads inputs the same way."""


def read_training_metadata(path: str | Path) -> dict[str, Any]:
    """The ``rlaif-reward-model.json`` that ``train-rm`` saved with a model, or ``{}`` for other models."""
    from rlaif.files import load_json_object

    meta = Path(path).expanduser() / METADATA_FILE
    if not meta.exists():
        return {}
    return load_json_object(meta, "reward model metadata file")


class RewardModelJudge:
    """Bradley-Terry verdicts from a scalar reward model: p_a = logistic((r_a - r_b) / temperature)."""

    name = "reward-model"

    def __init__(
        self,
        path: str | Path,
        batch_size: int = 8,
        max_length: int = 1024,
        temperature: float = 1.0,
        tie_band: float = 0.0,
        device: str = "auto",
        context_turns: int | None = None,
        threads: int | None = None,
    ):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from rlaif.models.transformers import pick_device

        local = Path(path).expanduser()
        if not (local / "config.json").exists():
            raise RlaifError(
                f"reward model directory '{path}' has no config.json",
                hint="Train one with `rlaif judge train-rm PAIRS.jsonl -o DIR`, or give a saved "
                "AutoModelForSequenceClassification directory.",
            )
        if threads:
            torch.set_num_threads(int(threads))  # process-wide: torch has no per-model thread pool
        self.training = read_training_metadata(local)
        # the model judges prompts the way it was trained on them unless told otherwise
        self.context_turns = context_turns or self.training.get("context_turns")
        self.device = pick_device(device)
        self.tokenizer = prepare_tokenizer(
            AutoTokenizer.from_pretrained(str(local), local_files_only=True), "right"
        )
        self.tokenizer.truncation_side = "left"
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(local), local_files_only=True, dtype=torch.float32
        )
        if self.model.config.num_labels != 1:
            raise RlaifError(f"reward model '{path}' has num_labels={self.model.config.num_labels}; need 1")
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.temperature = temperature
        self.tie_band = tie_band
        self.path = str(local)

    def _text(self, prompt: Conversation, response: str) -> str:
        if self.context_turns:
            prompt = prompt[-self.context_turns :]
        messages = [*prompt, {"role": "assistant", "content": response}]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False)
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages) + (self.tokenizer.eos_token or "")

    def score(
        self,
        prompts: Sequence[Conversation],
        responses: Sequence[str],
        principles: Sequence[Any] | None = None,
    ) -> list[float | None]:
        """The reward model's scalar for each (prompt, response); principles are ignored (baked into the RM)."""
        import torch

        texts = [self._text(p, r) for p, r in zip(prompts, responses, strict=True)]
        out: list[float | None] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    texts[start : start + self.batch_size],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    add_special_tokens=False,
                ).to(self.device)
                out += [float(x) for x in self.model(**batch).logits[:, 0].float()]
        return out

    def compare(self, comparisons: Sequence[Comparison]) -> list[Verdict]:
        n = len(comparisons)
        scores = self.score(
            [c.prompt for c in comparisons] * 2, [c.a for c in comparisons] + [c.b for c in comparisons]
        )
        verdicts = []
        for index in range(n):
            score_a, score_b = scores[index], scores[n + index]
            p_a, tie = apply_tie_band(
                preference_from_scores(score_a, score_b, self.temperature), self.tie_band
            )
            verdicts.append(
                Verdict(
                    p_a,
                    {
                        "judge": self.name,
                        "score_a": score_a,
                        "score_b": score_b,
                        "tie": tie,
                        "order_independent": True,
                    },
                )
            )
        return verdicts

    def as_reward(self) -> Reward:
        """TRL-shaped reward function backed by the reward model."""

        def reward_model_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any):
            return self.score([as_messages(p) for p in prompts], [as_text(c) for c in completions])

        return reward_model_reward


def reward_model_factory(options: dict[str, Any], context: Any) -> RewardModelJudge:
    """A local sequence-classification reward model scores each response (Bradley-Terry verdicts)."""
    return RewardModelJudge(**options)


def train_reward_model(
    pairs_path: str | Path,
    output_dir: str | Path,
    base: str = "embedded",
    epochs: float = 1.0,
    max_steps: int = -1,
    learning_rate: float = 1e-5,
    batch_size: int = 4,
    gradient_accumulation_steps: int = 1,
    max_length: int = 512,
    seed: int = 0,
    limit: int | None = None,
    offset: int = 0,
    context_turns: int | None = None,
    lora_r: int = 0,
    lora_alpha: int | None = None,
    threads: int | None = None,
) -> Path:
    """Train a scalar reward model on preference pairs with TRL's ``RewardTrainer``; returns the saved directory.

    ``base`` is ``embedded`` (SmolLM2-135M-Instruct) or a local model directory; a causal LM gets a fresh
    scalar head (``num_labels=1``). Pairs: any format :func:`rlaif.judges.data.load_preference_pairs` reads;
    ``offset``/``limit`` pick the training slice (so the rest of a file stays held out). ``context_turns``
    keeps the last N prompt messages (long multi-turn contexts dominate cost); it is saved with the model and
    the reward-model judge applies the same trimming. Pairs longer than ``max_length`` tokens are dropped by
    TRL; how many were trained on is saved too. ``lora_r > 0`` trains LoRA adapters (plus the new head) and
    merges them, so the output is always a plain sequence-classification directory.
    """
    import json

    from rlaif.judges.data import load_preference_pairs, trim_context

    pairs = load_preference_pairs(pairs_path, limit=limit, offset=offset)  # before torch: bad data fails fast

    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from rlaif.optimizers.common import checkpointing_argument

    if threads:
        torch.set_num_threads(int(threads))  # process-wide, like the transformers backend's option
    if context_turns:
        pairs = [trim_context(pair, context_turns) for pair in pairs]
    base_dir = base
    if base == "embedded":
        from rlaif.models.embedded import embedded_model_dir

        base_dir = str(embedded_model_dir())
    if not (Path(base_dir).expanduser() / "config.json").exists():
        raise RlaifError(f"base model '{base}' is not a local model directory (no config.json)")
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(base_dir, local_files_only=True))
    model = AutoModelForSequenceClassification.from_pretrained(
        base_dir, num_labels=1, local_files_only=True, dtype=torch.float32
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    peft_config = None
    if lora_r > 0:
        from peft import LoraConfig, TaskType

        peft_config = LoraConfig(
            task_type=TaskType.SEQ_CLS,  # also trains (and saves) the new score head
            r=lora_r,
            lora_alpha=lora_alpha or 2 * lora_r,
            lora_dropout=0.0,
            target_modules="all-linear",
        )
    dataset = Dataset.from_dict(
        {
            "prompt": [p.prompt for p in pairs],
            "chosen": [[{"role": "assistant", "content": p.chosen}] for p in pairs],
            "rejected": [[{"role": "assistant", "content": p.rejected}] for p in pairs],
        }
    )
    output_dir = Path(output_dir)
    precision = trainer_precision()
    use_cpu = precision["use_cpu"]
    args = RewardConfig(
        output_dir=str(output_dir / "trainer"),
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        max_length=max_length,
        seed=seed,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        **precision,
        # TRL turns activation checkpointing on by default: a GPU-memory trade that only costs time on CPU
        **checkpointing_argument(not use_cpu),
    )
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trained_on = len(trainer.train_dataset)
    if trained_on == 0:
        raise RlaifError(
            f"{pairs_path}: every pair is longer than max_length={max_length} tokens",
            hint="Raise --max-length or keep fewer prompt turns with --context-turns.",
        )
    result = trainer.train()
    final = trainer.model
    if peft_config is not None:
        final = final.merge_and_unload()
    final.save_pretrained(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    history = [row for row in trainer.state.log_history if "loss" in row]
    metadata = {
        "base": base,
        "data": str(pairs_path),
        "offset": offset,
        "limit": limit,
        "pairs_loaded": len(pairs),
        "pairs_trained": trained_on,
        "context_turns": context_turns,
        "max_length": max_length,
        "epochs": epochs,
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "lora_r": lora_r,
        "seed": seed,
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
        "final_train_loss": history[-1]["loss"] if history else None,
    }
    (output_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return output_dir
