"""The end-of-round eval is journaled: a crash mid-eval keeps finished chunks, and a re-run does only the rest."""

from __future__ import annotations

import json

import pytest

from rlaif.config import config_from_dict
from rlaif.eval import core
from rlaif.eval.runs import evaluate_round
from rlaif.prompts import load_prompts
from rlaif.rundir import RunDirectory
from tests.tiny_policy import make_tiny_policy


class Boom(RuntimeError):
    pass


def test_a_crash_mid_eval_loses_only_the_chunk_in_flight(tmp_path, monkeypatch):
    policy = make_tiny_policy(tmp_path / "tiny")
    config = config_from_dict(
        {
            "models": {"policy": str(policy)},
            "chunk_size": 2,
            "max_prompts": 5,
            "generation": {"max_new_tokens": 4},
            "output_dir": str(tmp_path / "run"),
        }
    )
    items = load_prompts(config)
    run_dir = RunDirectory(config.output_dir)
    run_dir.path.mkdir(parents=True)
    checkpoint = str(policy)  # the "trained" policy: here the same weights
    real = core.evaluate_records
    calls = []
    crash = {"armed": True}

    def crash_on_second_chunk(*args, **kwargs):
        calls.append([item.id for item in args[3]])
        if crash["armed"] and len(calls) == 2:
            raise Boom("killed mid-eval")
        return real(*args, **kwargs)

    monkeypatch.setattr(core, "evaluate_records", crash_on_second_chunk)
    with pytest.raises(Boom):
        evaluate_round(config, run_dir, 1, checkpoint, items, False, lambda message: None)
    journal = run_dir.path / "round-1" / "eval_journal.jsonl"
    saved = {json.loads(line)["id"] for line in journal.open()}
    assert saved == set(calls[0]) and len(saved) == 2
    assert not (run_dir.path / "round-1" / "eval.json").exists()

    calls.clear()
    crash["armed"] = False
    evaluate_round(config, run_dir, 1, checkpoint, items, False, lambda message: None)
    redone = {item_id for chunk in calls for item_id in chunk}
    assert redone == {item.id for item in items} - saved  # finished prompts were not evaluated again
    summary = json.loads((run_dir.path / "round-1" / "eval.json").read_text())
    assert summary["prompts"] == len(items) and summary["n"] == len(items)
    assert summary["kl"]["estimate"] == pytest.approx(0.0, abs=1e-6)  # same weights: no divergence
    assert run_dir.round_entry(1)["eval_summary"]["n"] == len(items)
