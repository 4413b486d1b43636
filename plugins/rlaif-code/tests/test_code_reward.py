"""The code reward on real HumanEval / MBPP rows: canonical solutions pass, broken ones fail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rlaif_code import build_program, extract_code

from rlaif import build_reward

# Samples committed with the repo (the first 16 rows of each set; see tests/data/README.md). The full sets
# are checked with the CLI instead: see the plugin README (~75 s).
DATA = Path(__file__).resolve().parents[3] / "tests" / "data"


def _records(name: str, limit: int | None = None) -> list[dict]:
    with (DATA / name).open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    return records[:limit]


@pytest.fixture(scope="module")
def reward():
    return build_reward("code", {"timeout": 30, "cpu_seconds": 30})


def _columns(records: list[dict], drop: tuple[str, ...]) -> dict[str, list]:
    keys = sorted({k for r in records for k in r} - set(drop))
    return {k: [r.get(k) for r in records] for k in keys}


def test_extract_code_prefers_a_python_fence():
    text = (
        "Here:\n```text\nnot code\n```\n```python\ndef f():\n    return 1\n```\nUsage:\n```python\nf()\n```"
    )
    assert extract_code(text) == "def f():\n    return 1\n"
    assert extract_code("    return x + 1\n") == "    return x + 1\n"
    assert extract_code("```\nimport os\n") == "import os\n"  # unterminated fence (truncated generation)


def test_build_program_styles():
    humaneval = {
        "prompt": 'def add(a, b):\n    """Add."""\n',
        "test": "def check(c):\n    assert c(1, 2) == 3",
        "entry_point": "add",
    }
    program = build_program("    return a + b\n", humaneval)
    assert program.startswith(humaneval["prompt"] + "    return a + b") and program.endswith("check(add)\n")
    full = build_program("```python\ndef add(a, b):\n    return a + b\n```", humaneval)
    assert "\ndef add(a, b):\n    return a + b" in full
    mbpp = {"test_list": ["assert f(1) == 2"], "test_imports": ["import math"], "prompt": "Write f."}
    assert build_program("def f(x):\n    return x + 1", mbpp) == (
        "import math\ndef f(x):\n    return x + 1\nassert f(1) == 2\n"
    )
    assert build_program("x = 1", {"prompt": "no tests"}) is None


def test_humaneval_canonical_solutions_pass_and_wrong_ones_fail(reward):
    records = _records("humaneval.sample.jsonl")
    prompts = [r["prompt"] for r in records]
    columns = _columns(records, ("prompt", "canonical_solution"))
    good = reward.details(prompts, [r["canonical_solution"] for r in records], **columns)
    assert [
        (r["task_id"], d["status"]) for r, d in zip(records, good, strict=True) if d["score"] != 1.0
    ] == []
    # Each task gets its neighbour's solution: wrong function body -> tests fail.
    shifted = [records[(i + 1) % len(records)]["canonical_solution"] for i in range(len(records))]
    bad = reward(prompts, shifted, **columns)
    assert bad == [0.0] * len(records)


def test_mbpp_reference_code_passes_and_broken_code_fails(reward):
    records = _records("mbpp_sanitized.sample.jsonl")
    columns = _columns(records, ("prompt", "code"))
    prompts = [r["prompt"] for r in records]
    good = reward.details(prompts, [r["code"] for r in records], **columns)
    assert [
        (r["task_id"], d["message"]) for r, d in zip(records, good, strict=True) if d["score"] != 1.0
    ] == []
    broken = [re.sub(r"return .*$", "return None", r["code"], count=0, flags=re.MULTILINE) for r in records]
    assert reward(prompts, broken, **columns) == [0.0] * len(records)


def test_conversational_fenced_completion_and_trl_extras(reward):
    row = _records("humaneval.sample.jsonl", 1)[0]
    solution = row["prompt"] + row["canonical_solution"]
    completion = [{"role": "assistant", "content": f"Sure!\n```python\n{solution}\n```\nDone."}]
    prompt = [{"role": "user", "content": "Write the function."}]
    scores = reward(
        [prompt],
        [completion],
        test=[row["test"]],
        entry_point=[row["entry_point"]],
        trainer_state=object(),
        completion_ids=[[1, 2, 3]],
    )
    assert scores == [1.0]
    assert reward.__name__ == "code"


def test_early_exit_in_a_completion_fails(reward):
    row = _records("humaneval.sample.jsonl", 1)[0]
    details = reward.details(
        [row["prompt"]],
        ["    import sys; sys.exit(0)\n"],
        test=[row["test"]],
        entry_point=[row["entry_point"]],
    )
    assert details[0]["score"] == 0.0 and "SystemExit" in details[0]["message"]


def test_rows_without_tests_are_skipped(reward):
    assert reward.details(None, ["print(1)"], other=["x"]) == [
        {
            "score": None,
            "status": "skipped",
            "message": "no tests for this row (need test_list, or test [+ entry_point])",
            "hack": None,
        }
    ]
