"""``rlaif feedback import``: choice, edit and rating events become pairs; bad lines are all reported."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rlaif.cli import build_cli


def write(path, events):
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return path


def run(*args):
    return CliRunner().invoke(build_cli(), list(args))


def test_each_kind_of_feedback_becomes_pairs(tmp_path):
    conversation = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    source = write(
        tmp_path / "feedback.jsonl",
        [
            {"type": "choice", "prompt": "Q1", "accepted": "A", "rejected": ["B", "C"], "id": "e1"},
            {"type": "edit", "prompt": conversation, "original": "long reply", "edited": "short"},
            {"type": "edit", "prompt": "Q2", "original": "same", "edited": "same "},
            {"type": "rating", "prompt": "Q3", "response": "good", "rating": "up"},
            {"type": "rating", "prompt": "Q3", "response": "bad", "rating": -1},
            {"type": "rating", "prompt": "Q4", "response": "alone", "rating": "up"},
        ],
    )
    out = tmp_path / "pairs.jsonl"
    result = run("feedback", "import", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    summary = [(p["feedback_type"], p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs]
    assert summary == [
        ("choice", "A", "B"),
        ("choice", "A", "C"),
        ("edit", "short", "long reply"),
        ("rating", "good", "bad"),
    ]
    assert pairs[0]["prompt"] == [{"role": "user", "content": "Q1"}] and pairs[0]["id"] == "e1"
    assert pairs[2]["prompt"] == conversation
    assert pairs[3]["source_lines"] == [4, 5]
    assert "unchanged_edits: 1" in result.output and "unpaired_ratings: 1" in result.output


def test_bad_lines_are_all_reported_with_line_numbers_and_nothing_is_written(tmp_path):
    source = write(
        tmp_path / "feedback.jsonl",
        [
            {"type": "choice", "prompt": "Q", "accepted": "A", "rejected": "B"},
            "{not json",
            {"type": "thumbs", "prompt": "Q"},
            {"type": "edit", "prompt": "", "original": "x"},
            {"type": "rating", "prompt": "Q", "response": "r", "rating": 5},
        ],
    )
    out = tmp_path / "pairs.jsonl"
    result = run("feedback", "import", str(source), "-o", str(out))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for expected in (
        "line 2: invalid JSON",
        "line 3: 'type' must be one of choice, edit, rating",
        "line 4: 'prompt' must be",
        "line 4: 'edited' must be a non-empty string",
        "line 5: 'rating' must be",
    ):
        assert expected in result.output, expected
    assert "line 1" not in result.output
    assert not out.exists()


def test_feedback_without_any_pair_is_an_error(tmp_path):
    source = write(tmp_path / "f.jsonl", [{"type": "rating", "prompt": "Q", "response": "r", "rating": "up"}])
    result = run("feedback", "import", str(source), "-o", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 2 and "no pairs" in result.output
