from pathlib import Path

import pytest
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.constitution import (
    constitution_from_dict,
    load_constitution,
    shipped_constitutions,
)
from rlaif.errors import RlaifError

ROOT = Path(__file__).resolve().parents[1]

PRINCIPLE = {
    "id": "p1",
    "critique_request": "Critique it.",
    "revision_request": "Rewrite it.",
    "judging_question": "Which is better?",
}


def test_at_least_three_constitutions_ship_and_all_validate():
    shipped = shipped_constitutions()
    assert len(shipped) >= 3
    for name in shipped:
        constitution = load_constitution(name)
        assert constitution.principles and all(p.weight >= 0 for p in constitution.principles)


def test_every_file_in_constitutions_dir_passes_the_cli_check():
    files = sorted(str(p) for p in (ROOT / "constitutions").glob("*.yaml"))
    result = CliRunner().invoke(build_cli(), ["constitution", "check", *files])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(files)


def test_principle_sampling_follows_weights_and_seed():
    import random

    constitution = constitution_from_dict(
        {
            "name": "c",
            "principles": [
                {**PRINCIPLE, "id": "a", "weight": 3},
                {**PRINCIPLE, "id": "b", "weight": 1},
                {**PRINCIPLE, "id": "off", "weight": 0},
            ],
        }
    )
    draws = [constitution.sample(random.Random(seed)).id for seed in range(2000)]
    assert "off" not in draws
    assert 0.7 < draws.count("a") / len(draws) < 0.8
    assert constitution.sample(random.Random(7)) == constitution.sample(random.Random(7))


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"name": "c", "principles": []}, "principles"),
        (
            {"name": "c", "principles": [{**PRINCIPLE, "critique_request": ""}]},
            "principles[0].critique_request",
        ),
        (
            {"name": "c", "principles": [{k: v for k, v in PRINCIPLE.items() if k != "judging_question"}]},
            "'judging_question' is required",
        ),
        ({"name": "c", "principles": [{**PRINCIPLE, "weight": -1}]}, "principles[0].weight"),
        ({"name": "c", "principles": [PRINCIPLE, PRINCIPLE]}, "duplicate principle id 'p1'"),
        ({"name": "c", "principles": [{**PRINCIPLE, "weight": 0}]}, "at least one must be above 0"),
        (
            {"name": "c", "principles": [{**PRINCIPLE, "critque_request": "x"}]},
            "did you mean 'critique_request'",
        ),
        ({"name": 5, "principles": [PRINCIPLE]}, "expected string"),
    ],
)
def test_invalid_constitutions_name_the_field(data, expected):
    with pytest.raises(RlaifError) as info:
        constitution_from_dict(data, source="c.yaml")
    assert expected in str(info.value)
    assert "c.yaml" in str(info.value)


def test_check_reports_every_error_with_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nprinciples:\n  - id: a\n    critique_request: ''\n  - id: a\n    revision_request: r\n"
    )
    result = CliRunner().invoke(build_cli(), ["constitution", "check", str(bad)])
    assert result.exit_code == 2
    assert "principles[0].critique_request" in result.output
    assert "principles[1]" in result.output and "duplicate principle id 'a'" in result.output
    assert str(bad) in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "content, expected",
    [
        ("name: [unclosed\n", "invalid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("", "empty"),
        (b"name: caf\xe9\n", "not valid UTF-8"),
        (
            "a: &a [1,1,1,1,1,1,1,1,1]\n"
            + "".join(f"b{i}: &b{i} [*{'a' if i == 0 else f'b{i - 1}'}]\n" for i in range(120)),
            "alias",
        ),
    ],
)
def test_unreadable_files_give_clean_errors(tmp_path, content, expected):
    path = tmp_path / "c.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(build_cli(), ["constitution", "check", str(path)])
    assert result.exit_code == 2
    assert expected in result.output and str(path) in result.output
    assert "Traceback" not in result.output


def test_missing_file_and_unknown_shipped_name():
    with pytest.raises(RlaifError, match="not found"):
        load_constitution("nowhere/c.yaml")
    with pytest.raises(RlaifError, match="did you mean 'helpful-harmless'"):
        load_constitution("helpful-harmles")


def test_few_shot_examples_are_validated_and_used():
    constitution = constitution_from_dict(
        {
            "name": "c",
            "principles": [PRINCIPLE],
            "examples": [
                {"principle": "p1", "prompt": "q", "response": "r", "critique": "c", "revision": "v"}
            ],
        }
    )
    assert len(constitution.examples_for(constitution.principles[0])) == 1
    with pytest.raises(RlaifError, match=r"examples\[0\].principle"):
        constitution_from_dict(
            {
                "name": "c",
                "principles": [PRINCIPLE],
                "examples": [
                    {"principle": "zz", "prompt": "q", "response": "r", "critique": "c", "revision": "v"}
                ],
            }
        )


def test_metadata_is_optional_free_form_and_round_trips():
    data = {
        "name": "m",
        "principles": [{**PRINCIPLE, "metadata": {"agreement": 0.7, "n": 10}}],
        "metadata": {"a": 1},
    }
    constitution = constitution_from_dict(data)
    assert constitution.principles[0].metadata == {"agreement": 0.7, "n": 10}
    assert constitution_from_dict(constitution.to_dict()).to_dict() == constitution.to_dict()
    assert constitution.to_dict()["metadata"] == {"a": 1}
    assert (
        "metadata"
        not in constitution_from_dict({"name": "m", "principles": [PRINCIPLE]}).to_dict()["principles"][0]
    )
    with pytest.raises(RlaifError, match=r"principles\[0\]\.metadata"):
        constitution_from_dict({"name": "m", "principles": [{**PRINCIPLE, "metadata": "x"}]})
