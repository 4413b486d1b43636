"""Integration: best-of-n and pairwise-tournament pair building with the real embedded model (tiny budgets)."""

import json

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("strategy", "judge"),
    [("best-of-n", {"name": "likelihood"}), ("pairwise-tournament", {"name": "pairwise"})],
)
def test_sampled_strategies_record_per_principle_score_vectors(tmp_path, strategy, judge):
    config = {
        "prompts": "default",
        "max_prompts": 2,
        "output_dir": str(tmp_path / "run"),
        "models": {"policy": {"spec": "embedded", "threads": 1}},
        "generation": {"max_new_tokens": 12},
        "critique": {"max_new_tokens": 8},
        "revision": {"max_new_tokens": 12},
        "judge": {**judge, "margin": 0.0},
        "pairs": {"strategy": strategy, "n": 2, "score_principles": ["helpfulness", "honesty"]},
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(build_cli(), ["generate", str(path), "-q"])
    assert result.exit_code == 0, result.output
    records = [
        json.loads(line) for line in (tmp_path / "run" / "round-1" / "records.jsonl").read_text().splitlines()
    ]
    assert len(records) == 2
    for record in records:
        verdict = record["judge"]
        assert len(record["candidates"]) == 2
        assert "helpfulness" in verdict["principles"] and "honesty" in verdict["principles"]
        # one score per candidate per principle: a vector, not just a winner
        assert len(verdict["scores"]) == 2
        # the prompt's sampled principle comes first, then the listed ones not already there
        assert 2 <= len(verdict["principles"]) <= 3
        assert all(len(row) == len(verdict["principles"]) for row in verdict["scores"])
        assert all(isinstance(x, float) for row in verdict["scores"] for x in row)
        if record["status"] == "pair":
            assert (
                verdict["aggregate"][verdict["chosen_index"]]
                >= verdict["aggregate"][verdict["rejected_index"]]
            )
