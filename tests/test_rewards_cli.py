"""``rlaif rewards score``: summaries, per-record output, and clean user errors (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rlaif.cli import build_cli


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), ["rewards", "score", *args])


def test_json_summary_and_output_file(tmp_path):
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "a", "completion": "Paris", "answer": "paris"},
            {"id": "b", "completion": "Lyon", "answer": "paris"},
            {"task_id": "t/3", "completion": "x", "answer": None},
        ],
    )
    out = tmp_path / "out" / "r.jsonl"
    result = invoke("--reward", "exact-match", "--data", str(data), "--json", "--output", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary == {
        "n": 3,
        "mean": 0.5,
        "pass_rate": 1 / 3,
        "statuses": {"failed": 1, "passed": 1, "skipped": 1},
    }
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r.get("id") or r.get("task_id"), r["score"], r["status"]) for r in rows] == [
        ("a", 1.0, "passed"),
        ("b", 0.0, "failed"),
        ("t/3", None, "skipped"),
    ]


def test_options_completion_field_and_limit(tmp_path):
    data = write_jsonl(
        tmp_path / "d.jsonl", [{"text": "one two"}, {"text": "one two three four"}, {"text": "x"}]
    )
    result = invoke(
        "--reward",
        "length",
        "--data",
        str(data),
        "--completion-field",
        "text",
        "--option",
        "max=2",
        "--option",
        "unit=words",
        "--limit",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["statuses"] == {"failed": 1, "passed": 1}


def test_option_from_json_file(tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["a"]}))
    data = write_jsonl(tmp_path / "d.jsonl", [{"completion": '{"a": 1}'}, {"completion": "{}"}])
    result = invoke("--reward", "json-schema", "--data", str(data), "--option", f"schema=@{schema}")
    assert result.exit_code == 0, result.output
    assert "n=2 mean=0.5000 pass_rate=0.5000" in result.output


def test_bad_jsonl_line_reports_file_and_line(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"completion": "a"}, "{not json", {"completion": "b"}])
    result = invoke("--reward", "length", "--data", str(data))
    assert result.exit_code == 2
    assert f"{data}: line 2: invalid JSON" in result.output
    assert "Traceback" not in result.output


def test_missing_field_names_the_line_and_available_fields(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"completion": "a"}, {"solution": "b"}])
    result = invoke("--reward", "length", "--data", str(data))
    assert result.exit_code == 2
    assert "line 2: missing field 'completion' (fields: solution)" in result.output
    assert "--completion-field" in result.output


def test_missing_file_unknown_reward_and_bad_option(tmp_path):
    result = invoke("--reward", "length", "--data", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2 and "nope.jsonl: dataset not found" in result.output
    data = write_jsonl(tmp_path / "d.jsonl", [{"completion": "a"}])
    result = invoke("--reward", "lenght", "--data", str(data))
    assert result.exit_code == 2 and "did you mean 'length'" in result.output
    result = invoke("--reward", "length", "--data", str(data), "--option", "min=-3")
    assert result.exit_code == 2 and "invalid options for reward 'length'" in result.output
    result = invoke("--reward", "length", "--data", str(data), "--option", "novalue")
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.output
