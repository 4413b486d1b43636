"""`rlaif config check` looks inside the judge section: member judges and pairs.score_principles ids."""

from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.config import check_config, config_from_dict


def problems(raw: dict) -> list[str]:
    return [str(p) for p in check_config(config_from_dict(raw, source="run.yaml"))]


def test_score_principle_ids_must_be_in_the_constitution():
    found = problems({"pairs": {"strategy": "best-of-n", "score_principles": ["helpfulness", "honsty"]}})
    assert len(found) == 1
    assert "run.yaml: pairs.score_principles[1]" in found[0]
    assert "'honsty'" in found[0] and "did you mean 'honesty'" in found[0]
    assert "helpfulness, harmlessness, honesty, respect" in found[0]
    assert problems({"pairs": {"score_principles": ["honesty", "respect"]}}) == []
    assert problems({"pairs": {"score_principles": "all"}}) == []


def test_ensemble_members_are_checked_by_name_options_and_model():
    judge = {
        "name": "ensemble",
        "options": {
            "members": [
                {"name": "pairwise", "options": {"cot": True}},
                {"name": "pairwize"},
                {"name": "score", "options": {"scale": "100"}},
                {"name": "likelihood", "model": "nosuch:thing"},
            ]
        },
    }
    found = problems({"judge": judge})
    text = "\n".join(found)
    assert len(found) == 3, text
    assert "judge.options.members[1].name" in text and "did you mean 'pairwise'" in text
    assert "judge.options.members[2].options.scale" in text
    assert "judge.options.members[3].model" in text and "nosuch:thing" in text
    judge["options"]["members"] = [{"name": "pairwise"}, {"name": "likelihood", "model": "critic"}]
    assert problems({"judge": judge}) == []


def test_nested_members_a_fallback_inside_an_ensemble():
    judge = {
        "name": "ensemble",
        "options": {
            "members": [
                {
                    "name": "rewards-as-judge",
                    "options": {"reward": "math", "fallback": {"name": "score", "options": {"bogus": 1}}},
                }
            ]
        },
    }
    found = problems({"judge": judge})
    assert len(found) == 1 and "judge.options.members[0].options.fallback.options" in found[0]
    assert "bogus" in found[0]


def test_config_check_cli_reports_member_and_principle_problems(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "judge: {name: ensemble, options: {members: [{name: nope}]}}\npairs: {score_principles: [kindness]}\n"
    )
    result = CliRunner().invoke(build_cli(), ["config", "check", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "judge.options.members[0].name" in result.output and "unknown judge 'nope'" in result.output
    assert "pairs.score_principles[0]" in result.output and "kindness" in result.output
