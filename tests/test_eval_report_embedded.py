"""Integration: a tiny real embedded run trains, evaluates on held-out prompts and writes its report."""

import json

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli

pytestmark = pytest.mark.slow


def test_embedded_run_evaluates_each_round_and_reports(tmp_path):
    config = {
        "prompts": "default",
        "max_prompts": 2,
        "output_dir": str(tmp_path / "run"),
        "generation": {"max_new_tokens": 12},
        "critique": {"max_new_tokens": 8},
        "revision": {"max_new_tokens": 12},
        "judge": {"margin": 0.0},
        "eval": {"holdout": 2, "max_prompts": 2},
        "optimizer": {
            "options": {
                "max_steps": 1,
                "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 1,
                "max_length": 192,
            }
        },
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(build_cli(), ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    entry = manifest["rounds"][0]
    trained_on = {json.loads(line)["id"] for line in (run / entry["records"]).read_text().splitlines()}
    summary = json.loads((run / entry["eval"]).read_text())
    evaluated = {json.loads(line)["id"] for line in (run / entry["eval_records"]).read_text().splitlines()}
    assert summary["prompts"] == 2 and not trained_on & evaluated
    assert summary["wins"] + summary["ties"] + summary["losses"] == summary["n"] == 2
    assert summary["kl"]["estimate"] is not None  # real per-token log-probs from the transformers backend
    assert manifest["report"] == "report.html" and "Report:" in result.output
    assert '<img class="plot"' in (run / "report.html").read_text()


def test_response_logprobs_match_label_logprobs():
    """The new backend method agrees with the existing exact one on a single-token continuation."""
    from rlaif import load_chat_model

    model = load_chat_model("embedded", {"batch_size": 2})
    conversation = [{"role": "user", "content": "Answer with a single letter: A or B."}]
    # response_logprobs scores the reply as the chat template renders it, end-of-turn token included
    labels = {"A": model.label_logprobs([conversation], ["A<|im_end|>"])[0]["A<|im_end|>"]}
    scored = model.response_logprobs(
        [conversation, [{"role": "user", "content": "Hi"}]], ["A", "Hello there"]
    )
    assert scored[0] == pytest.approx(labels["A"], abs=1e-3)
    assert scored[1] < 0
