"""The Constitutional AI recipe: several critique -> revision passes, few-shot examples as earlier turns, the
``sft`` optimizer and staged training (list-form ``optimizer``) in the run config and in ``rlaif train``.

The engine tests use the fake backend (tests/doubles.py); the training ones at the bottom train a tiny random
Llama for real (tests/tiny_policy.py) and are marked slow.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rlaif.config import check_config, config_from_dict
from rlaif.constitution import constitution_from_dict
from rlaif.engine import EngineSettings, Journal, prompt_seed, run_cai
from rlaif.engine.cai import critique_conversation
from rlaif.errors import RlaifError
from rlaif.judges.pairwise import PairwiseJudge
from rlaif.prompts import PromptItem
from tests.doubles import FakeChatModel

PRINCIPLES = [
    {
        "id": "a",
        "critique_request": "Identify problems.",
        "revision_request": "Rewrite it.",
        "judging_question": "Which is better?",
    },
    {
        "id": "b",
        "critique_request": "Point out issues.",
        "revision_request": "Please rewrite.",
        "judging_question": "Which is clearer?",
        "weight": 2,
    },
]
CONSTITUTION = constitution_from_dict({"name": "t", "principles": PRINCIPLES})
EXAMPLE = {
    "prompt": "What is 2+2?",
    "response": "Well, let me think about it, the answer is 4.",
    "critique": "The preamble delays the answer.",
    "revision": "4.",
}
WITH_EXAMPLES = constitution_from_dict({"name": "t", "principles": PRINCIPLES, "examples": [EXAMPLE]})


class RecordingModel(FakeChatModel):
    """The fake model, keeping every conversation it was asked to continue."""

    def __init__(self, same_revision_after: int | None = None):
        super().__init__()
        self.conversations: list[list[dict[str, str]]] = []
        self.same_revision_after = same_revision_after
        """From this many revision requests in a conversation on, the revision repeats the previous one."""

    def generate(self, conversations, params, seeds=None):
        self.conversations += [list(c) for c in conversations]
        out = super().generate(conversations, params, seeds)
        if self.same_revision_after is None:
            return out
        for index, conversation in enumerate(conversations):
            revisions = [
                m for m in conversation if m["role"] == "assistant" and m["content"].startswith("IMPROVED")
            ]
            if (
                "rewrite" in conversation[-1]["content"].lower()
                and len(revisions) >= self.same_revision_after
            ):
                out[index] = revisions[-1]["content"]
        return out


def _settings(**overrides) -> EngineSettings:
    from rlaif.config import load_config

    defaults = load_config()
    return EngineSettings(
        answer=defaults.sampling("generation"),
        critique=defaults.sampling("critique"),
        revision=defaults.sampling("revision"),
        **{"chunk_size": 3, **overrides},
    )


def _run(path: Path, model: FakeChatModel, constitution=CONSTITUTION, n: int = 5, **settings):
    journal = Journal(path / "records.jsonl")
    items = [PromptItem(f"q{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(n)]
    run_cai(items, constitution, model, model, PairwiseJudge(model), _settings(**settings), journal, False)
    return {record["id"]: record for record in journal.records}


# -- several revision passes ---------------------------------------------------------------------------------------
def test_two_passes_keep_both_critiques_and_revisions_and_the_judge_sees_the_last(tmp_path):
    records = _run(tmp_path, FakeChatModel(), revision_passes=2)
    assert len(records) == 5
    for record in records.values():
        assert record["status"] == "pair"
        first, second = record["passes"]
        assert first["revision"] != second["revision"]
        assert first["critique"] and second["critique"]
        # pass 2 revised pass 1's revision under a newly sampled principle, seeded by (seed, round, id, pass)
        seed = prompt_seed(0, 1, record["id"], 2)
        assert second["seed"] == seed != first["seed"] == record["seed"]
        assert second["principle_id"] == CONSTITUTION.sample(random.Random(seed)).id
        # the final revision is what the pair is made of (and what SFT trains on)
        assert record["revision"] == second["revision"] == record["chosen"][0]["content"]
        assert record["critique"] == second["critique"] and record["principle_id"] == second["principle_id"]
        assert "dropped_reason" not in first and "dropped_reason" not in second


def test_pass_two_continues_the_conversation_after_the_first_revision(tmp_path):
    model = RecordingModel()
    _run(tmp_path, model, WITH_EXAMPLES, n=2, revision_passes=2)
    critique_requests = {p.critique_request for p in WITH_EXAMPLES.principles}
    revision_requests = {p.revision_request for p in WITH_EXAMPLES.principles}

    def revised(conversation):
        return any(m["role"] == "assistant" and m["content"].startswith("IMPROVED") for m in conversation)

    first_revisions = [
        c for c in model.conversations if c[-1]["content"] in revision_requests and not revised(c)
    ]
    second_critiques = [
        c for c in model.conversations if c[-1]["content"] in critique_requests and revised(c)
    ]
    assert len(first_revisions) == len(second_critiques) == 2
    for conversation in second_critiques:  # all of pass 1, then its revision, then the new critique request
        matches = [r for r in first_revisions if conversation[: len(r)] == r]
        assert len(matches) == 1 and len(conversation) == len(matches[0]) + 2
        assert conversation[-2]["role"] == "assistant" and conversation[-2]["content"].startswith("IMPROVED")


def test_a_pass_whose_revision_changes_nothing_keeps_the_previous_revision_with_the_reason(tmp_path):
    records = _run(tmp_path, RecordingModel(same_revision_after=1), n=3, revision_passes=3)
    for record in records.values():
        first, second, third = record["passes"]
        assert second["dropped_reason"] == third["dropped_reason"] == "revision identical to answer"
        assert record["status"] == "pair" and record["revision"] == first["revision"]
        assert record["principle_id"] == first["principle_id"] and record["critique"] == first["critique"]


def test_one_pass_records_are_unchanged_and_resume_repeats_the_passes(tmp_path):
    one = _run(tmp_path / "one", FakeChatModel())
    assert all("passes" not in record for record in one.values())
    first = _run(tmp_path / "a", FakeChatModel(), revision_passes=2, chunk_size=5)
    again = _run(tmp_path / "b", FakeChatModel(), revision_passes=2, chunk_size=2)  # other batches
    assert {k: r["passes"] for k, r in first.items()} == {k: r["passes"] for k, r in again.items()}
    # pass 1 of a 2-pass run is the 1-pass run
    assert all(first[k]["passes"][0]["revision"] == one[k]["revision"] for k in one)


def test_revision_passes_need_the_revision_strategy_and_join_the_resume_hash():
    assert config_from_dict({}).result_hash() == config_from_dict({"revision_passes": 1}).result_hash()
    assert config_from_dict({}).result_hash() != config_from_dict({"revision_passes": 2}).result_hash()
    config = config_from_dict({"revision_passes": 2, "pairs": {"strategy": "best-of-n"}})
    problems = [p for p in check_config(config) if p.where == "revision_passes"]
    assert problems and "strategy" in problems[0].message
    with pytest.raises(RlaifError, match="revision_passes"):
        config_from_dict({"revision_passes": 0})


# -- few-shot examples ---------------------------------------------------------------------------------------------
def test_few_shot_examples_are_earlier_turns_and_a_shared_prefix_of_every_stage(tmp_path):
    principle = WITH_EXAMPLES.principles[0]
    conversation = critique_conversation(
        WITH_EXAMPLES, principle, [{"role": "user", "content": "question"}], "answer"
    )
    assert [m["content"] for m in conversation[:6]] == [
        EXAMPLE["prompt"],
        EXAMPLE["response"],
        principle.critique_request,
        EXAMPLE["critique"],
        principle.revision_request,
        EXAMPLE["revision"],
    ]
    model = RecordingModel()
    _run(tmp_path, model, WITH_EXAMPLES, n=3)
    staged = [c for c in model.conversations if c[0]["content"] == EXAMPLE["prompt"]]
    assert len(staged) == 6  # every critique and revision prompt starts with the examples
    example_turns = [critique_conversation(WITH_EXAMPLES, p, [], "")[:6] for p in WITH_EXAMPLES.principles]
    assert all(conversation[:6] in example_turns for conversation in staged)
    answers = [c for c in model.conversations if c[0]["content"] != EXAMPLE["prompt"]]
    assert all(len(c) == 1 for c in answers)  # the answer prompt is the user's, without examples


# -- config: list-form optimizer ------------------------------------------------------------------------------------
def test_a_list_of_stages_is_validated_stage_by_stage_and_recorded_with_defaults():
    config = config_from_dict({"optimizer": [{"name": "sft"}, {"name": "dpo", "options": {"beta": 0.2}}]})
    sft, dpo = config.optimizer_stages()
    assert sft["name"] == "sft" and sft["options"]["train_on"] == "revisions"
    assert dpo["options"]["beta"] == 0.2 and dpo["options"]["max_length"] == 512  # defaults filled in
    assert config_from_dict({"optimizer": {"name": "sft"}}).optimizer_stages()[0]["options"]["train_on"]
    bad = config_from_dict({"optimizer": [{"name": "sft", "options": {"train_on": "x"}}, {"name": "dpoo"}]})
    where = {p.where for p in check_config(bad)}
    assert {"optimizer[0].options.train_on", "optimizer[1].name"} <= where
    with pytest.raises(RlaifError, match=r"optimizer\[0\]: 'name' is required"):
        config_from_dict({"optimizer": [{"options": {}}]})
    with pytest.raises(RlaifError, match="expected object or array"):
        config_from_dict({"optimizer": "dpo"})
    with pytest.raises(RlaifError, match="unknown key 'nmae'"):
        config_from_dict({"optimizer": {"nmae": "dpo"}})


def test_rlaif_train_stage_flags_are_checked_before_any_training(tmp_path):
    from rlaif.cli import build_cli

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n")
    runner = CliRunner()
    cases = [
        (["--optimizer", "sft", "--optimizer", "dpo", "--option", "beta=0.2"], "ambiguous"),
        (["--stages", "[{options: {}}]"], "'name' is required"),
        (["--stages", "[{name: sft, options: {train_on: x}}]"], "--stages[0]"),
        (["--stages", "[{name: sft}]", "--optimizer", "dpo"], "drop --optimizer"),
    ]
    for flags, message in cases:
        result = runner.invoke(build_cli(), ["train", str(pairs), "-o", str(tmp_path / "out"), *flags])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert not (tmp_path / "out").exists()


def test_sft_data_is_the_revisions_of_a_run_or_any_prompt_completion_file(tmp_path):
    from datasets import Dataset

    from rlaif.optimizers.sft import load_sft_file, sft_dataset

    pairs = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": f"q{i}"}],
                "chosen": [{"role": "assistant", "content": f"c{i}"}],
                "rejected": [{"role": "assistant", "content": "r"}],
                "chosen_source": source,
            }
            for i, source in enumerate(["revision", "original", "revision"])
        ]
    )
    revisions = sft_dataset(pairs)
    assert revisions.column_names == ["prompt", "completion"]
    assert [row["completion"][0]["content"] for row in revisions] == ["c0", "c2"]
    assert len(sft_dataset(pairs, "chosen")) == 3
    completions = tmp_path / "sft.jsonl"
    completions.write_text(json.dumps({"prompt": "Say hi", "completion": "Hi."}) + "\n")
    assert sft_dataset(load_sft_file(completions))[0] == {"prompt": "Say hi", "completion": "Hi."}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "Say hi", "completion": ""}) + "\n")
    with pytest.raises(RlaifError, match="line 1: 'completion'"):
        load_sft_file(bad)


# -- real training with the tiny policy ------------------------------------------------------------------------------
STEPS = {"max_steps": 2, "save_steps": 1, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1}


class SimulatedCrash(Exception):
    """The process dying in the middle of a training stage."""


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory) -> Path:
    from tests.tiny_policy import make_tiny_policy

    return make_tiny_policy(tmp_path_factory.mktemp("tiny"))


@pytest.mark.slow
def test_sft_trains_on_revisions_and_resumes_from_its_last_checkpoint(tmp_path, tiny_policy, monkeypatch):
    import trl
    from transformers import TrainerCallback

    from rlaif.training import train_on_pairs

    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "chosen": [{"role": "assistant", "content": f"short {i}"}],
            "rejected": [{"role": "assistant", "content": "long"}],
            "chosen_source": "revision" if i % 3 else "original",
        }
        for i in range(6)
    ]
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    trained: list[int] = []

    class CrashAfterFirstSave(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            trained.append(state.global_step)

        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 1 and not getattr(CrashAfterFirstSave, "done", False):
                CrashAfterFirstSave.done = True
                raise SimulatedCrash

    class Instrumented(trl.SFTTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(CrashAfterFirstSave())

    monkeypatch.setattr(trl, "SFTTrainer", Instrumented)
    out = tmp_path / "out"
    options = {**STEPS, "max_length": 48, "learning_rate": 1e-3}
    with pytest.raises(SimulatedCrash):
        train_on_pairs(pairs, out, str(tiny_policy), "sft", options)
    assert (out / "trainer" / "checkpoint-1").is_dir() and trained == [1]
    result = train_on_pairs(pairs, out, str(tiny_policy), "sft", options)
    assert trained == [1, 2]  # step 1 was not trained again
    assert result.metrics["resumed_from"].endswith("checkpoint-1")
    assert result.metrics["examples"] == 4  # the 4 revisions; originals chosen by the judge do not train
    assert (out / "checkpoint" / "config.json").exists() and (out / "metrics.json").exists()


@pytest.mark.slow
def test_staged_run_resumes_in_dpo_without_redoing_sft(tmp_path, tiny_policy, monkeypatch):
    from rlaif.config import load_config
    from rlaif.optimizers.dpo import DPOOptimizer
    from rlaif.optimizers.sft import SFTOptimizer
    from rlaif.report import write_report
    from rlaif.rounds import run

    calls = {"sft": 0, "dpo": 0}
    policies: list[str] = []
    sft_train, dpo_train = SFTOptimizer.train, DPOOptimizer.train

    def counted_sft(self, request):
        calls["sft"] += 1
        return sft_train(self, request)

    def crashing_dpo(self, request):
        calls["dpo"] += 1
        policies.append(str(request.policy))
        if calls["dpo"] == 1:
            raise SimulatedCrash("killed during DPO")
        return dpo_train(self, request)

    monkeypatch.setattr(SFTOptimizer, "train", counted_sft)
    monkeypatch.setattr(DPOOptimizer, "train", crashing_dpo)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say something about {i}."}) + "\n" for i in range(4)))
    config_path = tmp_path / "rlaif.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "plugins": ["tests.doubles"],
                "prompts": str(prompts),
                "output_dir": str(tmp_path / "run"),
                "models": {"policy": str(tiny_policy), "critic": "fake:critic"},
                "generation": {"max_new_tokens": 6},
                "revision_passes": 2,
                "optimizer": [
                    {"name": "sft", "options": {**STEPS, "max_length": 48}},
                    {"name": "dpo", "options": {**STEPS, "max_length": 48}},
                ],
                "eval": {"enabled": False},
            }
        )
    )
    config = load_config(config_path)
    with pytest.raises(SimulatedCrash):
        run(config, progress=False, echo=lambda message: None)
    round_1 = tmp_path / "run" / "round-1"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    sft_entry = manifest["rounds"][0]["stages"][0]
    assert sft_entry["status"] == "trained" and sft_entry["checkpoint"] == "round-1/stage-1-sft/checkpoint"
    assert calls == {"sft": 1, "dpo": 1}

    result = run(config, progress=False, echo=lambda message: None)
    assert calls == {"sft": 1, "dpo": 2}  # SFT's finished checkpoint was reused, not retrained
    assert policies[-1] == str((round_1 / "stage-1-sft" / "checkpoint").resolve())  # DPO starts from SFT
    entry = result.manifest["rounds"][0]
    assert [s["name"] for s in entry["stages"]] == ["sft", "dpo"]
    assert [s["policy"] for s in entry["stages"]] == [str(tiny_policy), "round-1/stage-1-sft/checkpoint"]
    assert all(s["train_metrics"]["global_step"] == 2 for s in entry["stages"])
    assert entry["checkpoint"] == "round-1/stage-2-dpo/checkpoint" == result.manifest["final_checkpoint"]
    assert (round_1 / "stage-2-dpo" / "metrics.json").exists()
    records = [json.loads(line) for line in (round_1 / "records.jsonl").read_text().splitlines()]
    assert all(len(record["passes"]) == 2 for record in records)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert [stage["name"] for stage in saved["optimizer"]] == ["sft", "dpo"]
    assert saved["optimizer"][0]["options"]["train_on"] == "revisions"  # every stage's options, filled in
    html = write_report(tmp_path / "run").read_text()
    assert "1. <code>sft</code> loss" in html and "2. <code>dpo</code> loss" in html
    assert "sft → dpo" in html


@pytest.mark.slow
def test_rlaif_train_runs_stages_in_order_and_skips_finished_ones(tmp_path, tiny_policy):
    from rlaif.cli import build_cli

    pairs = tmp_path / "pairs.jsonl"
    row = {"prompt": "Say hi", "chosen": "Hi.", "rejected": "Hello there, how are you doing today?"}
    pairs.write_text("".join(json.dumps(row) + "\n" for _ in range(4)))
    stages = json.dumps(
        [{"name": "sft", "options": STEPS}, {"name": "dpo", "options": {**STEPS, "max_length": 32}}]
    )
    args = [
        "train",
        str(pairs),
        "--policy",
        str(tiny_policy),
        "-o",
        str(tmp_path / "out"),
        "--stages",
        stages,
    ]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "stage-1-sft" / "checkpoint" / "config.json").exists()
    final = tmp_path / "out" / "stage-2-dpo" / "checkpoint"
    assert f"Checkpoint: {final}" in result.output
    before = (tmp_path / "out" / "stage-1-sft" / "metrics.json").stat().st_mtime_ns
    (tmp_path / "out" / "stage-2-dpo" / "metrics.json").unlink()  # as if killed before DPO finished
    again = CliRunner().invoke(build_cli(), args)
    assert again.exit_code == 0, again.output
    assert (tmp_path / "out" / "stage-1-sft" / "metrics.json").stat().st_mtime_ns == before
