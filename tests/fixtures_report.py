"""A run directory as `rlaif run` leaves it, built on the fake backend plus synthetic training metrics."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from click.testing import CliRunner


def dpo_log_history(steps: int, start_loss: float = 0.69) -> list[dict]:
    """Shaped like TRL DPOTrainer's log history: per-step loss and rewards, then a train summary."""
    history = []
    for step in range(1, steps + 1):
        history.append(
            {
                "step": step,
                "epoch": step / steps,
                "loss": start_loss * math.exp(-step / steps),
                "rewards/chosen": 0.02 * step,
                "rewards/rejected": -0.015 * step,
                "rewards/margins": 0.035 * step,
                "rewards/accuracies": min(1.0, 0.5 + 0.05 * step),
                "learning_rate": 5e-6,
            }
        )
    history.append({"step": steps, "train_loss": start_loss * 0.8, "train_runtime": 1.0})
    return history


def make_fake_run(tmp_path, prompts: int = 6, rounds_with_eval: int = 2, hostile: bool = True):
    """Generate with the fake backend (train: false), then add per-round metrics and eval like a trained run."""
    from rlaif.constitution import load_constitution
    from rlaif.eval import EvalSettings, evaluate
    from rlaif.eval.runs import save_eval
    from rlaif.prompts import PromptItem
    from tests.eval_doubles import ImprovedFake, ScoredFake

    lines = [json.dumps({"prompt": f"question {i}: explain topic {i}"}) for i in range(prompts)]
    if hostile:
        lines.append(json.dumps({"prompt": "<script>document.title='pwned'</script> & <b>tags</b>"}))
    (tmp_path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    config = {
        "plugins": ["tests.doubles", "tests.eval_doubles"],
        "prompts": "prompts.jsonl",
        "output_dir": str(tmp_path / "run"),
        "models": {"policy": "fake:policy"},
        "train": False,
        "chunk_size": 4,
    }
    (tmp_path / "rlaif.yaml").write_text(yaml.safe_dump(config))
    from rlaif.cli import build_cli

    result = CliRunner().invoke(build_cli(), ["generate", str(tmp_path / "rlaif.yaml"), "-q"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    constitution = load_constitution("helpful-harmless")
    judge_model = ScoredFake("judge", position_bias=0.5)
    from rlaif.judges.pairwise import PairwiseJudge

    items = [
        PromptItem(f"held-{i}", [{"role": "user", "content": f"held-out question {i}"}]) for i in range(4)
    ]
    for index in range(1, rounds_with_eval + 1):
        folder = run / f"round-{index}"
        folder.mkdir(exist_ok=True)
        (folder / "metrics.json").write_text(
            json.dumps({"metrics": {"first_loss": 0.69, "last_loss": 0.4}, "log_history": dpo_log_history(8)})
        )
        result = evaluate(
            ImprovedFake(f"round{index}"),
            ScoredFake("policy"),
            PairwiseJudge(judge_model),
            items,
            constitution,
            EvalSettings(principles="all"),
        )
        save_eval(result, folder)
        entry = manifest["rounds"][index - 1] if index <= len(manifest["rounds"]) else {"round": index}
        if index > len(manifest["rounds"]):
            manifest["rounds"].append(entry)
        entry.update(
            metrics=f"round-{index}/metrics.json",
            eval=f"round-{index}/eval.json",
            eval_records=f"round-{index}/eval_records.jsonl",
        )
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


@pytest.fixture
def fake_run(tmp_path):
    return make_fake_run(tmp_path)
