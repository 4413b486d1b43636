import json

import pytest

from rlaif.config import load_config
from rlaif.constitution import constitution_from_dict
from rlaif.engine import EngineSettings, Journal, prompt_seed, run_cai
from rlaif.judges.pairwise import PairwiseJudge
from rlaif.prompts import PromptItem
from tests.doubles import FakeChatModel

CONSTITUTION = constitution_from_dict(
    {
        "name": "t",
        "principles": [
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
        ],
    }
)


def items(n):
    return [PromptItem(f"q{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(n)]


def settings(**overrides):
    defaults = load_config()
    base = dict(
        answer=defaults.sampling("generation"),
        critique=defaults.sampling("critique"),
        revision=defaults.sampling("revision"),
        chunk_size=4,
    )
    return EngineSettings(**{**base, **overrides})


def run(tmp_path, model, n=10, **kw):
    journal = Journal(tmp_path / "records.jsonl")
    judge = PairwiseJudge(model)
    result = run_cai(items(n), CONSTITUTION, model, model, judge, settings(**kw), journal, progress=False)
    return result, journal


def test_every_prompt_ends_in_exactly_one_record_with_provenance(tmp_path):
    model = FakeChatModel()
    result, journal = run(tmp_path, model)
    assert result.pairs == 10
    assert sorted(r["id"] for r in journal.records) == sorted(f"q{i}" for i in range(10))
    record = journal.records[0]
    assert record["chosen"][0]["content"].startswith("IMPROVED")  # the judge prefers the revision
    assert record["rejected"][0]["content"].startswith("plain answer")
    assert record["prompt"] == [{"role": "user", "content": "question 0"}]
    for key in ("principle_id", "critique", "seed", "round", "models", "judge"):
        assert key in record
    assert record["judge"]["p_revision"] > 0.5
    assert set(record["judge"]) >= {"p_a_order_ab", "p_a_order_ba"}
    # batched: 4-prompt chunks go through each stage as one call
    assert max(model.generate_calls) == 4
    assert result.usage["answer"]["requests"] == 10


def test_position_bias_is_cancelled_by_both_orders(tmp_path):
    biased = FakeChatModel(position_bias=3.0)  # strongly prefers whatever is shown first
    result, journal = run(tmp_path, biased)
    assert result.pairs == 10
    assert all(r["chosen_source"] == "revision" for r in journal.records)


def test_ties_are_dropped_with_reason(tmp_path):
    model = FakeChatModel()
    result, journal = run(tmp_path, model, margin=0.5)
    assert result.pairs == 0 and result.drops["tie"] == 10
    assert all(r["status"] == "drop" and r["reason"] == "tie" for r in journal.records)


def test_resume_skips_finished_prompts_and_ignores_a_torn_line(tmp_path):
    model = FakeChatModel()
    run(tmp_path, model, n=6)
    path = tmp_path / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # crash mid-write of record 4
    resumed_model = FakeChatModel()
    result, journal = run(tmp_path, resumed_model, n=6)
    assert result.skipped == 3 and result.pairs == 3
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == sorted(f"q{i}" for i in range(6)) and len(ids) == len(set(ids))
    assert sum(resumed_model.generate_calls[:1]) == 3


def test_choices_are_deterministic_per_prompt_not_per_batch(tmp_path):
    _, a = run(tmp_path / "a", FakeChatModel(), n=8, chunk_size=8)
    _, b = run(tmp_path / "b", FakeChatModel(), n=8, chunk_size=3)
    key = lambda r: (r["id"], r["principle_id"], r["seed"], r["original"])  # noqa: E731
    assert sorted(map(key, a.records)) == sorted(map(key, b.records))
    assert prompt_seed(0, 1, "x") == prompt_seed(0, 1, "x") != prompt_seed(0, 2, "x")


def test_journal_write_failure_is_a_clear_error_and_keeps_the_file(tmp_path):
    from rlaif.errors import RlaifError

    journal = Journal(tmp_path / "records.jsonl")
    journal.append([{"id": "a"}])
    (tmp_path / "records.jsonl").chmod(0o444)
    import os

    if os.geteuid() == 0:
        # root ignores file modes; simulate a full disk instead
        journal.path = tmp_path / "dir-not-file"
        journal.path.mkdir()
    with pytest.raises(RlaifError, match="cannot write records"):
        journal.append([{"id": "b"}])
    assert Journal(tmp_path / "records.jsonl").records == [{"id": "a"}]
