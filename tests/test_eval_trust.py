"""What a win rate is worth: verifiable rewards before/after with intervals, and the judge's known agreement with
people beside every win rate (run summary, manifest, report). Deterministic doubles; the tiny policy for the
journaled end-of-round eval."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.constitution import load_constitution
from rlaif.errors import RlaifError
from rlaif.eval import EvalSettings, evaluate
from rlaif.eval.stats import interval_text, mean_interval, paired_change, t_quantile_975
from rlaif.judges.pairwise import PairwiseJudge
from rlaif.judges.trust import from_label_figures, load_judge_eval, trust_text
from rlaif.prompts import PromptItem
from tests.eval_doubles import ImprovedFake, ScoredFake
from tests.test_judge_cli import write_data

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def items(n):
    return [PromptItem(f"p{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(n)]


# -- intervals -------------------------------------------------------------------------------------------------
def test_t_quantiles_match_published_values_and_approach_the_normal():
    assert t_quantile_975(1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile_975(7) == pytest.approx(2.365, abs=1e-3)  # 8 held-out prompts
    assert t_quantile_975(30) == pytest.approx(2.042, abs=1e-3)
    assert t_quantile_975(60) == pytest.approx(2.000, abs=1e-3)  # past the table: Cornish-Fisher
    assert t_quantile_975(120) == pytest.approx(1.980, abs=1e-3)
    assert t_quantile_975(31) < t_quantile_975(30) and t_quantile_975(10_000) == pytest.approx(
        1.960, abs=1e-3
    )
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_mean_interval_is_the_t_interval_and_needs_two_values():
    values = [0.1, 0.4, 0.2, 0.5]
    half = 3.1824463 * statistics.stdev(values) / 2  # t(0.975, df 3)
    figure = mean_interval(values)
    assert figure["mean"] == pytest.approx(0.3) and figure["n"] == 4
    assert figure["ci95"] == pytest.approx([0.3 - half, 0.3 + half], abs=1e-6)
    assert mean_interval([0.7]) == {"mean": 0.7, "ci95": None, "n": 1}
    assert mean_interval([]) == {"mean": None, "ci95": None, "n": 0}
    assert mean_interval([0.5, 0.5, 0.5])["ci95"] == [0.5, 0.5]  # no spread: no invented width


def test_paired_change_skips_unscored_prompts_and_says_which_side_of_zero():
    up = paired_change([0.2, 0.5, None, 0.1], [0.6, 0.8, 0.9, 0.3])
    assert up["n"] == 3 and up["mean"] == pytest.approx(0.3) and up["above_zero"] and not up["below_zero"]
    down = paired_change([1.0, 1.0, 1.0], [0.5, 0.4, 0.6])
    assert down["below_zero"] and not down["above_zero"]
    unclear = paired_change([0.5, 0.5, 0.5], [0.9, 0.1, 0.6])
    assert not unclear["above_zero"] and not unclear["below_zero"]
    assert interval_text(up, 2, signed=True).startswith("+0.30 [")
    assert interval_text({"mean": None}) == "n/a" and interval_text({"mean": 0.5, "ci95": None}) == "0.50"


# -- eval: rewards before/after --------------------------------------------------------------------------------
def test_eval_reports_each_rewards_paired_change_with_intervals():
    from rlaif import build_reward

    result = evaluate(
        ImprovedFake("trained"),
        ScoredFake("base"),
        PairwiseJudge(ScoredFake("judge")),
        items(5),
        load_constitution("helpful-harmless"),
        rewards=[
            ("contains", build_reward("contains", {"strings": ["IMPROVED"]})),
            ("length", build_reward("length", {"unit": "words", "max": 1})),
        ],
    )
    contains = result.summary["rewards"]["contains"]
    # every trained answer says IMPROVED, no base answer does: +1 on each of 5 prompts, no spread
    assert contains["change"] == {
        "mean": 1.0,
        "ci95": [1.0, 1.0],
        "n": 5,
        "above_zero": True,
        "below_zero": False,
        "pass_rate": 1.0,
    }
    assert contains["model"]["pass_ci95"][0] > 0.5 and contains["baseline"]["pass_ci95"][1] < 0.5  # Wilson
    assert contains["model"]["mean_ci95"] == [1.0, 1.0]
    # the trained answers are one word longer: a word cap can only get worse
    length = result.summary["rewards"]["length"]["change"]
    assert length["mean"] <= 0 and not length["above_zero"]


def test_end_of_round_eval_records_the_rewards_and_prints_the_judges_trust(tmp_path):
    from rlaif.config import config_from_dict
    from rlaif.eval.runs import evaluate_round
    from rlaif.prompts import load_prompts
    from rlaif.rounds import RunResult
    from rlaif.rundir import RunDirectory
    from tests.tiny_policy import make_tiny_policy

    policy = make_tiny_policy(tmp_path / "tiny")
    config = config_from_dict(
        {
            "models": {"policy": str(policy)},
            "constitution": str(EXAMPLES / "constitutions" / "brevity.yaml"),  # `length` on its principle
            "max_prompts": 3,
            "generation": {"max_new_tokens": 4},
            "output_dir": str(tmp_path / "run"),
        }
    )
    run_dir = RunDirectory(config.output_dir)
    run_dir.path.mkdir(parents=True)
    said: list[str] = []
    note = trust_text([], "pairwise")
    evaluate_round(config, run_dir, 1, str(policy), load_prompts(config), False, said.append, judge_note=note)
    assert said[1].startswith("Round 1 eval: win rate") and said[1].endswith(note)
    summary = json.loads((run_dir.path / "round-1" / "eval.json").read_text())
    (name,) = summary["rewards"]
    assert name.startswith("length") and summary["rewards"][name]["change"]["n"] == 3
    brief = run_dir.round_entry(1)["eval_summary"]["rewards"][name]
    assert brief["change"] == summary["rewards"][name]["change"]["mean"] == 0.0  # same weights, same answers
    assert brief["before"] == brief["after"] and brief["n"] == 3
    assert any(line.strip().startswith(f"held-out {name}:") for line in said)
    run_dir.manifest["judge"] = "pairwise"
    text = RunResult(run_dir.path, run_dir.manifest).summary()
    assert "judge agreement with people: unknown (label pairs: `rlaif label RUN_DIR`; or save" in text
    assert f"held-out {name}: " in text and "change +0.00" in text and "on 3 prompts" in text


# -- the judge's trust ----------------------------------------------------------------------------------------
def saved_judge_eval(tmp_path) -> Path:
    """A real `rlaif judge-eval --json` result, saved the way the docs say (stdout to a file)."""
    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump({"plugins": ["tests.doubles"], "models": {"policy": "fake:p"}}))
    args = ["judge-eval", str(config), "--data", str(write_data(tmp_path)), "--json"]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    path = tmp_path / "judge-eval.json"
    path.write_text(result.stdout)
    return path


def test_a_saved_judge_eval_result_becomes_the_line_beside_the_win_rate(tmp_path):
    figure = load_judge_eval(saved_judge_eval(tmp_path).name, base_dir=tmp_path)
    assert figure["source"] == "judge-eval" and figure["n"] == 6 and figure["agreement"] == 1.0
    low, high = figure["ci95"]
    assert 0.5 < low < high == 1.0  # Wilson on 6 of 6
    text = trust_text([figure], "pairwise")
    assert text == (
        f"judge pairwise agrees with people 1.00 [{low:.2f}, 1.00] on 6 labels "
        "(judge-eval: judge-eval.json, judge pairwise)"
    )


def test_expert_labels_figures_become_an_agreement():
    figures = {"labels": "runs/x/labels.jsonl", "judge": {"n": 12, "agreement": 0.75, "ci95": [0.47, 0.91]}}
    figure = from_label_figures(figures)
    assert figure == {
        "source": "labels",
        "file": "labels.jsonl",
        "judge": None,
        "agreement": 0.75,
        "ci95": [0.47, 0.91],
        "n": 12,
    }
    assert "0.75 [0.47, 0.91] on 12 labels (this run's expert labels: labels.jsonl)" in trust_text([figure])
    assert from_label_figures({"judge": {"n": 0, "agreement": None, "ci95": None}}) is None
    assert from_label_figures(None) is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "JSON"),
        ("[1, 2]", "JSON object"),
        ('{"n": 5}', "agreement"),
        ('{"agreement": 1.5, "n": 5}', "from 0 to 1"),
        ('{"agreement": 0.5, "n": 0}', "count of labelled pairs"),
        ('{"agreement": 0.5, "n": 4, "agreement_ci95": [0.2]}', "agreement_ci95"),
    ],
)
def test_a_bad_judge_agreement_file_is_named_and_stops_the_config_check(tmp_path, content, expected):
    bad = tmp_path / "agreement.json"
    bad.write_text(content)
    with pytest.raises(RlaifError) as error:
        load_judge_eval(bad)
    assert str(bad) in str(error.value) and expected in str(error.value)
    config = tmp_path / "rlaif.yaml"
    config.write_text(
        yaml.safe_dump(
            {"plugins": ["tests.doubles"], "models": {"policy": "fake:p"}, "judge_agreement": bad.name}
        )
    )
    result = CliRunner().invoke(build_cli(), ["config", "check", str(config)])
    assert result.exit_code == 2 and "judge_agreement" in result.output and expected in result.output
    assert "Traceback" not in result.output


def test_judge_agreement_does_not_change_the_runs_hash(tmp_path):
    from rlaif.config import config_from_dict

    base = config_from_dict({"models": {"policy": "embedded"}})
    described = config_from_dict({"models": {"policy": "embedded"}, "judge_agreement": "judge-eval.json"})
    assert base.result_hash() == described.result_hash()


# -- the report ------------------------------------------------------------------------------------------------
def _report_with_rewards(tmp_path, judge_agreement=None, labels_figure=None):
    from rlaif import build_reward
    from rlaif.eval.runs import save_eval
    from rlaif.report import write_report
    from tests.fixtures_report import make_fake_run

    run = make_fake_run(tmp_path, rounds_with_eval=1)
    hostile = 'length <script>alert("x")</script>'
    result = evaluate(
        ImprovedFake("trained"),
        ScoredFake("base"),
        PairwiseJudge(ScoredFake("judge")),
        items(4),
        load_constitution("helpful-harmless"),
        EvalSettings(principles="all"),
        rewards=[(hostile, build_reward("contains", {"strings": ["IMPROVED"]}))],
    )
    save_eval(result, run / "round-1")
    manifest = json.loads((run / "manifest.json").read_text())
    if judge_agreement is not None:
        manifest["judge_agreement"] = judge_agreement
    (run / "manifest.json").write_text(json.dumps(manifest))
    return write_report(run).read_text()


def test_report_shows_the_rewards_change_and_the_judges_known_agreement(tmp_path):
    figure = {
        "source": "judge-eval",
        "file": "hh<b>.json",
        "judge": "<img src=x onerror=alert(1)>",
        "agreement": 0.51,
        "ci95": [0.44, 0.58],
        "n": 200,
    }
    text = _report_with_rewards(tmp_path, judge_agreement=[figure])
    assert 'id="verifiable-rewards"' in text and "Verifiable rewards on the held-out prompts" in text
    table = text[
        text.index('<table class="rewards">') : text.index("</table>", text.index('<table class="rewards">'))
    ]
    assert "+1.000 [+1.000, +1.000]" in table and "up (interval above 0)" in table
    assert "0.000" in table and "1.000" in table  # mean before / after
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in table and "<script>alert" not in text
    trust = "agrees with people 0.51 [0.44, 0.58] on 200 labels (judge-eval: hh&lt;b&gt;.json, judge "
    assert text.count(trust) >= 3  # the win-rate card, the rounds table, the eval section
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_report_says_when_the_judges_agreement_is_unknown_and_skips_a_bad_manifest_figure(tmp_path):
    text = _report_with_rewards(
        tmp_path, judge_agreement=[{"source": "judge-eval", "agreement": "high", "n": 3}]
    )
    assert "judge agreement with people: unknown" in text and "rlaif label RUN_DIR" in text
    assert "judge_agreement skipped" in text  # named in the report's warnings, not shown as a figure


def test_report_without_rewards_says_only_the_judge_speaks(tmp_path):
    from rlaif.report import write_report
    from tests.fixtures_report import make_fake_run

    text = write_report(make_fake_run(tmp_path, rounds_with_eval=1)).read_text()
    assert "No verifiable rewards" in text and "only the judge speaks" in text


def test_eval_cli_prints_the_judges_agreement_under_the_win_rate(tmp_path):
    from tests.test_eval import _config

    agreement = saved_judge_eval(tmp_path)
    config = _config(tmp_path, judge_agreement=agreement.name)
    result = CliRunner().invoke(build_cli(), ["eval", str(config), "--model", "improved:x", "-n", "2", "-q"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("win rate:"))
    assert (
        "agrees with people 1.00" in lines[at + 1]
        and "on 6 labels (judge-eval: judge-eval.json" in lines[at + 1]
    )


def test_a_runs_expert_labels_measure_its_judge_in_the_manifest_and_report(tmp_path):
    from tests.test_label_wiring import _generate, _verdicts

    runner = CliRunner()
    run_dir = _generate(tmp_path, runner)
    assert json.loads((run_dir / "manifest.json").read_text())["judge_agreement"] == []
    _verdicts(run_dir)  # the expert overrules the judge on one pair (and ties another: left out)
    run_dir = _generate(tmp_path, runner)
    (figure,) = json.loads((run_dir / "manifest.json").read_text())["judge_agreement"]
    assert figure["source"] == "labels" and figure["n"] == 1 and figure["agreement"] == 0.0
    text = (run_dir / "report.html").read_text()
    assert "agrees with people 0.00 [0.00, " in text and "on 1 labels (this run&#x27;s expert labels" in text
