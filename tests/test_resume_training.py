"""Training resumes from its last checkpoint, and multi-round runs resume at the right round and stage.

A tiny random Llama (built from a config, with the embedded tokenizer) trains for real with TRL; a callback
crashes the trainer right after a checkpoint is saved, the way a kill would, and the re-run must pick up there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


class SimulatedCrash(Exception):
    """Stands in for the process dying just after a checkpoint was written."""


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from rlaif.models.embedded import embedded_model_dir

    path = tmp_path_factory.mktemp("tiny-policy")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir(), local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def instrument_trainer(monkeypatch):
    """Patch TRL's DPOTrainer: record the steps it really trains, optionally crash after a checkpoint."""
    import trl
    from transformers import TrainerCallback

    def install(crash_after: int | None = None) -> list[int]:
        trained: list[int] = []

        class Instrument(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                trained.append(state.global_step)

            def on_save(self, args, state, control, **kwargs):
                if crash_after is not None and state.global_step >= crash_after:
                    raise SimulatedCrash(f"crashed after checkpoint-{state.global_step}")

        class InstrumentedDPOTrainer(trl.DPOTrainer):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.add_callback(Instrument())

        monkeypatch.setattr(trl, "DPOTrainer", InstrumentedDPOTrainer)
        return trained

    yield install
    monkeypatch.undo()


TRAIN_OPTIONS = {
    "max_steps": 3,
    "save_steps": 1,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_length": 48,
    "learning_rate": 1e-3,
}


def test_a_multi_round_run_resumes_at_the_right_round_and_stage(
    tmp_path, tiny_policy, instrument_trainer, monkeypatch
):
    from rlaif.config import load_config
    from rlaif.rounds import run

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say something about {i}."}) + "\n" for i in range(4)))
    config_path = tmp_path / "rlaif.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "plugins": ["tests.doubles"],
                "prompts": str(prompts),
                "output_dir": str(tmp_path / "run"),
                "rounds": 2,
                "models": {"policy": str(tiny_policy), "critic": "fake:critic"},
                "generation": {"max_new_tokens": 6},
                "optimizer": {"options": TRAIN_OPTIONS},
                "eval": {"enabled": False},  # every prompt trains; evaluation resumes on its own terms
            }
        )
    )
    config = load_config(config_path)
    round_1 = tmp_path / "run" / "round-1"

    instrument_trainer(crash_after=2)
    with pytest.raises(SimulatedCrash):
        run(config, progress=False, echo=lambda message: None)
    journal_after_crash = (round_1 / "records.jsonl").read_bytes()
    assert len(journal_after_crash.splitlines()) == 4
    assert (round_1 / "trainer" / "checkpoint-2").is_dir()
    assert not (tmp_path / "run" / ".lock.owner").exists()
    monkeypatch.undo()
    trained = instrument_trainer()  # the "restarted process": no crash this time

    messages: list[str] = []
    result = run(config, progress=False, echo=messages.append)
    first, second = result.manifest["rounds"]
    # round 1: generation was finished, so it is not redone; training picks up at checkpoint-2
    assert (round_1 / "records.jsonl").read_bytes() == journal_after_crash
    assert not any("Resuming round 1" in m or "policy: " + str(tiny_policy) in m for m in messages)
    assert first["train_metrics"]["resumed_from"].endswith("checkpoint-2")
    assert first["train_metrics"]["global_step"] == 3
    assert trained == [3, 1, 2, 3]  # round 1: only step 3 left; round 2: all three
    # round 2 generated with round 1's checkpoint as the policy, then trained from scratch
    assert second["policy"].endswith("round-1/checkpoint") and second["status"] == "trained"
    assert second["train_metrics"]["resumed_from"] is None
    assert result.manifest["final_checkpoint"] == "round-2/checkpoint"

    # a finished run is skipped entirely: no model is loaded, nothing is trained or rewritten
    pairs_before = (round_1 / "pairs.jsonl").stat().st_mtime_ns
    messages.clear()
    again = run(config, progress=False, echo=messages.append)
    assert not [m for m in messages if m.startswith(("Loading models", "Training", "Resuming", "Evaluating"))]
    assert (round_1 / "pairs.jsonl").stat().st_mtime_ns == pairs_before
    assert again.manifest["rounds"] == result.manifest["rounds"]
