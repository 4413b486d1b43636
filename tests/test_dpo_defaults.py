"""DPO's memory-saving defaults: one pair per forward pass with accumulation, and no reference model in training.

Why they matter: on the default run the batch's logits (tokens x 49k vocabulary) and a second copy of the model
were most of the 6.2 GB peak; these defaults brought it under 4 GB with the same loss (docs/benchmarks.md).
"""

from __future__ import annotations

import pytest
from datasets import Dataset

from rlaif.optimizers.dpo import DPOOptimizer
from rlaif.protocols import TrainRequest
from tests.tiny_policy import make_tiny_policy


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    return make_tiny_policy(tmp_path_factory.mktemp("tiny-policy"))


def pairs() -> Dataset:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Say {word}."}],
            "chosen": [{"role": "assistant", "content": word}],
            "rejected": [{"role": "assistant", "content": f"I will not say {word}, sorry."}],
        }
        for word in ("hi", "yes", "no", "ok")
    ]
    return Dataset.from_list(rows)


@pytest.fixture
def seen(monkeypatch):
    """What the TRL trainer was built with: its args and whether it kept a reference model."""
    import trl

    record: dict = {}

    class Recording(trl.DPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            record["args"] = self.args
            record["ref_model"] = self.ref_model

    monkeypatch.setattr(trl, "DPOTrainer", Recording)
    return record


def test_defaults_accumulate_and_precompute_the_reference(tiny_policy, tmp_path, seen) -> None:
    result = DPOOptimizer(max_steps=1, max_length=128).train(
        TrainRequest(policy=str(tiny_policy), output_dir=tmp_path / "out", pairs=pairs())
    )
    assert seen["args"].per_device_train_batch_size == 1 and seen["args"].gradient_accumulation_steps == 4
    assert seen["args"].precompute_ref_log_probs is True
    assert seen["ref_model"] is None  # no second model held during training
    assert result.metrics["global_step"] == 1


def test_trl_args_can_turn_precompute_off(tiny_policy, tmp_path, seen) -> None:
    DPOOptimizer(max_steps=1, max_length=128, trl_args={"precompute_ref_log_probs": False}).train(
        TrainRequest(policy=str(tiny_policy), output_dir=tmp_path / "out", pairs=pairs())
    )
    assert seen["args"].precompute_ref_log_probs is False and seen["ref_model"] is not None


def test_precompute_defaults_off_under_multi_process_launch(monkeypatch) -> None:
    """TRL's precompute cannot share an in-memory dataset's cache files between DDP processes."""
    from rlaif.optimizers.dpo import precompute_reference

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert precompute_reference({"precompute_ref_log_probs": None}) is False
    assert precompute_reference({"precompute_ref_log_probs": True}) is True
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert precompute_reference({"precompute_ref_log_probs": None}) is True
