"""Monitors: first/last KL, reward, entropy and length in the metrics; KL early stop; refusing multi-process run."""

from types import SimpleNamespace

import pytest

from rlaif.errors import RlaifError
from rlaif.optimizers.common import kl_early_stop_callback, monitor_metrics


def test_monitor_metrics_reports_first_and_last_values():
    history = [
        {"kl": 0.0, "reward": 0.2, "completions/mean_length": 40, "entropy": 2.0},
        {"loss": 1.0},
        {"kl": 0.5, "reward": 0.7, "completions/mean_length": 12, "entropy": 1.5},
    ]
    metrics = monitor_metrics(history)
    assert metrics["first_kl"] == 0.0 and metrics["last_kl"] == 0.5
    assert metrics["first_reward"] == 0.2 and metrics["last_reward"] == 0.7
    assert metrics["first_completions_mean_length"] == 40 and metrics["last_completions_mean_length"] == 12
    assert metrics["last_entropy"] == 1.5


def test_kl_early_stop_stops_only_past_the_limit():
    assert kl_early_stop_callback(None) is None
    callback = kl_early_stop_callback(1.0)
    state = SimpleNamespace(global_step=3, log_history=[])
    control = SimpleNamespace(should_training_stop=False)
    callback.on_log(None, state, control, logs={"kl": 0.9})
    assert control.should_training_stop is False
    callback.on_log(None, state, control, logs={"kl": 1.5})
    assert control.should_training_stop is True and callback.stopped_at == 3
    assert state.log_history == [{"kl_early_stop": 1.5, "step": 3}]


def test_run_refuses_to_start_under_a_multi_process_launcher(monkeypatch, tmp_path):
    from rlaif.config import config_from_dict
    from rlaif.rounds import run

    monkeypatch.setenv("WORLD_SIZE", "2")
    config = config_from_dict({"output_dir": str(tmp_path / "run"), "models": {"policy": "embedded"}})
    with pytest.raises(RlaifError, match="rlaif generate"):
        run(config, progress=False, echo=lambda _: None)
