"""Expert labels put to work by the run and by `rlaif train`: the human verdict overrules the judge."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.label.items import load_items
from rlaif.label.store import LabelStore, label_event
from rlaif.training import load_pairs_file


def _generate(tmp_path, runner, **extra):
    config = tmp_path / "rlaif.yaml"
    fields = {
        "plugins": ["tests.doubles"],
        "models": {"policy": "fake:p"},
        "train": False,
        "max_prompts": 6,
        "output_dir": str(tmp_path / "run"),
        **extra,
    }
    config.write_text(yaml.safe_dump(fields), encoding="utf-8")
    result = runner.invoke(build_cli(), ["generate", str(config), "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def _verdicts(run_dir):
    """Flip the first pair, tie the second: labels made the way the labelling page makes them."""
    items = [item for item in load_items(run_dir) if item.status == "pair"]
    assert len(items) >= 2, [item.status for item in load_items(run_dir)]
    first, second = items[0], items[1]
    ids = [r.id for r in first.responses]
    ai_loser = first.other(first.judge.choice)  # the response the judge did not choose
    flip = label_event(first.id, first.digest, "ana", "prefer", ids[0], ids[1], chosen=ai_loser)
    tie = label_event(second.id, second.digest, "ana", "tie", *[r.id for r in second.responses])
    LabelStore(run_dir / "labels.jsonl").append([flip, tie])
    return first.id.split("/", 1)[1], second.id.split("/", 1)[1]


def test_a_runs_labels_overrule_its_pairs_and_train_labels_reads_them(tmp_path):
    runner = CliRunner()
    run_dir = _generate(tmp_path, runner)
    pairs_before = {r["id"]: r for r in map(json.loads, (run_dir / "round-1" / "pairs.jsonl").open())}
    flipped, tied = _verdicts(run_dir)
    run_dir = _generate(tmp_path, runner)  # resumes: the round is not trained, so its pairs are rebuilt
    pairs_after = {r["id"]: r for r in map(json.loads, (run_dir / "round-1" / "pairs.jsonl").open())}
    assert tied in pairs_before and tied not in pairs_after  # a human tie drops the pair
    assert pairs_after[flipped]["chosen"] == pairs_before[flipped]["rejected"]
    assert pairs_after[flipped]["label_source"] == "human" and pairs_after[flipped]["labellers"] == ["ana"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["rounds"][0]["counts"]["human"] == {
        "confirmed": 0,
        "flipped": 1,
        "dropped": 1,
        "added": 0,
    }

    records = run_dir / "round-1" / "records.jsonl"
    plain = load_pairs_file(records)
    labelled = load_pairs_file(records, run_dir / "labels.jsonl")
    assert len(labelled) == len(plain) - 1
    assert run_dir.joinpath("report.html").read_text().count("Judge-expert agreement") == 1


def test_labels_none_ignores_them(tmp_path):
    runner = CliRunner()
    run_dir = _generate(tmp_path, runner, labels="none")
    before = (run_dir / "round-1" / "pairs.jsonl").read_text()
    _verdicts(run_dir)
    _generate(tmp_path, runner, labels="none")
    assert (run_dir / "round-1" / "pairs.jsonl").read_text() == before
