"""The math reward: extraction rules, equivalence via math-verify, our own timeout, and real-data checks."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from rlaif_math import extract_answer, last_boxed
from rlaif_math.checker import CheckerPool

from rlaif.rewards import build_reward

# The full public sets, next to the repository (tests skip without them); $RLAIF_DATA_DIR overrides.
DATA = Path(
    os.environ.get("RLAIF_DATA_DIR") or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)


@pytest.fixture(scope="module")
def reward():
    built = build_reward("math", {"timeout": 10})
    yield built
    built.close()


@pytest.mark.parametrize(
    ("text", "expected", "method"),
    [
        (r"so \boxed{\frac{1}{2}} done", r"\frac{1}{2}", "boxed"),
        (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)", "boxed"),
        (r"first \boxed{1} then \boxed{\sqrt{\frac{a}{b}}}", r"\sqrt{\frac{a}{b}}", "boxed"),
        (r"\fbox{7}", "7", "boxed"),
        (r"\boxed 5 is it", "5", "boxed"),
        ("work <<2*3=6>>6\n#### 1,234", "1234", "####"),
        ("So the answer is $42$.", "42", "answer-is"),
        ("Final answer: (2,12)", "(2,12)", "answer-is"),
        ("We get 3 apples, then 7 more, total 10 apples", "10", "last-number"),
        ("no digits at all", None, "none"),
    ],
)
def test_extract_answer(text, expected, method):
    assert extract_answer(text) == (expected, method)


def test_truncated_final_box_falls_back_to_complete_one():
    assert last_boxed(r"\boxed{3} and then \boxed{\frac{1}{") == "3"


def test_equivalent_forms_score_one(reward):
    completions = [r"\boxed{0.5}", "The answer is 1/2", r"\boxed{\dfrac{1}{2}}", r"\boxed{2}", "#### 7.0"]
    answers = [r"\frac{1}{2}", r"\frac12", "0.5", "3", "7"]
    assert reward(None, completions, answer=answers) == [1.0, 1.0, 1.0, 0.0, 1.0]


def test_conversational_completions_and_trl_kwargs(reward):
    completions = [[{"role": "assistant", "content": r"It is \boxed{12}."}]]
    prompts = [[{"role": "user", "content": "6+6?"}]]
    scores = reward(prompts, completions, answer=["12"], trainer_state=object(), completion_ids=[[1, 2]])
    assert scores == [1.0]
    assert reward.__name__ == "math"


def test_missing_gold_is_skipped_and_no_answer_fails(reward):
    details = reward.details(None, [r"\boxed{1}", "nothing here"], answer=[None, "1"])
    assert [(d["score"], d["status"]) for d in details] == [(None, "skipped"), (0.0, "failed")]


def test_works_off_the_main_thread(reward):
    # math-verify's own SIGALRM timeout raises off the main thread; ours must not.
    out: list = []
    thread = threading.Thread(target=lambda: out.append(reward(None, [r"\boxed{4}"], answer=["4"])))
    thread.start()
    thread.join(60)
    assert out == [[1.0]]


def test_deadline_kills_a_slow_check_and_recovers():
    pool = CheckerPool(workers=1, timeout=0.0001, startup_grace=0.0)
    try:
        result = pool.check("1", "1")  # cannot even import sympy in 0.1 ms
        assert result.status == "timeout"
        assert pool._all[0].process is None  # the stuck worker was killed
        pool.timeout, pool.startup_grace = 10.0, 30.0
        assert pool.check("1", "1").status == "passed"
    finally:
        pool.close()


def test_invalid_options_are_rejected():
    from rlaif.errors import RlaifError

    with pytest.raises(RlaifError, match="invalid options for reward 'math'"):
        build_reward("math", {"timeout": -1})


def _records(name: str) -> list[dict]:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def _wrong(answer: str) -> str:
    """A different answer: gold + 1 for numbers, otherwise a number no MATH answer equals."""
    if re.fullmatch(r"-?\d+", answer.strip()):
        return str(int(answer) + 1)
    return "-98765.4321"


@pytest.mark.slow
def test_gsm8k_gold_solutions_score_one_and_corrupted_score_zero(reward):
    records = _records("gsm8k.jsonl")  # all 300
    golds = [r["answer"] for r in records]
    assert reward(None, [r["solution"] for r in records], answer=golds) == [1.0] * len(records)
    corrupted = [re.sub(r"####.*$", "#### " + _wrong(r["answer"]), r["solution"]) for r in records]
    assert reward(None, corrupted, answer=golds) == [0.0] * len(records)


@pytest.mark.slow
def test_math500_gold_solutions_score_one_and_corrupted_score_zero(reward):
    records = _records("math500.jsonl")  # all 250
    golds = [r["answer"] for r in records]
    details = reward.details(None, [r["solution"] for r in records], answer=golds)
    failures = [(r["id"], d["message"]) for r, d in zip(records, details, strict=True) if d["score"] != 1.0]
    assert failures == []
    corrupted = []
    for r in records:
        start = r["solution"].rfind("\\boxed")
        corrupted.append(r["solution"][:start] + "\\boxed{" + _wrong(r["answer"]) + "}")
    details = reward.details(None, corrupted, answer=golds)
    wrongly_passed = [
        (r["id"], d["message"]) for r, d in zip(records, details, strict=True) if d["score"] != 0.0
    ]
    assert wrongly_passed == []
