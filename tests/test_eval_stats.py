"""Means over seeds with Student t intervals (rlaif.eval.stats) and the learning benchmark's verdict on them."""

from __future__ import annotations

import importlib.util
import math
import statistics
from pathlib import Path

import pytest

from rlaif.eval.stats import intervals_over_runs, t_interval, t_quantile, t_two_sided_probability

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("confidence", "df", "expected"),
    # published two-sided critical values (any t table)
    [
        (0.95, 1, 12.7062),
        (0.95, 2, 4.3027),
        (0.95, 4, 2.7764),
        (0.95, 9, 2.2622),
        (0.95, 30, 2.0423),
        (0.90, 4, 2.1318),
        (0.99, 4, 4.6041),
    ],
)
def test_t_quantile_matches_the_tables(confidence, df, expected):
    assert t_quantile(confidence, df) == pytest.approx(expected, abs=1e-4)
    assert t_two_sided_probability(t_quantile(confidence, df), df) == pytest.approx(confidence, abs=1e-9)


def test_t_quantile_tends_to_the_normal_one_and_rejects_nonsense():
    assert t_quantile(0.95, 2000) == pytest.approx(1.959964, abs=2e-3)
    assert t_two_sided_probability(0.0, 3) == 0.0
    with pytest.raises(ValueError):
        t_quantile(1.0, 4)
    with pytest.raises(ValueError):
        t_two_sided_probability(1.0, 0)


def test_t_interval_is_mean_plus_minus_t_times_standard_error():
    values = [0.10, 0.04, 0.08, 0.02, 0.06]
    interval = t_interval(values)
    half = 2.776445 * statistics.stdev(values) / math.sqrt(5)
    assert interval.n == 5 and interval.mean == pytest.approx(0.06)
    assert interval.low == pytest.approx(0.06 - half, abs=1e-6)
    assert interval.high == pytest.approx(0.06 + half, abs=1e-6)
    assert interval.above(0.0) and not interval.below(0.0) and not interval.above(0.05)
    assert interval.as_dict()["ci"] == [interval.low, interval.high]


def test_one_value_has_no_interval_and_identical_values_a_point():
    single = t_interval([0.3])
    assert (single.low, single.high) == (None, None) and not single.above() and not single.below()
    assert single.as_dict()["ci"] is None
    same = t_interval([0.2, 0.2, 0.2])
    assert same.low == same.high == pytest.approx(0.2)
    with pytest.raises(ValueError):
        t_interval([])


def test_intervals_over_runs_skips_missing_values_per_field():
    runs = [{"a": 1.0, "b": None}, {"a": 3.0, "b": 2.0}, {"a": 2.0}]
    out = intervals_over_runs(runs, ["a", "b", "c"])
    assert set(out) == {"a", "b"}
    assert out["a"].n == 3 and out["a"].mean == pytest.approx(2.0)
    assert out["b"].n == 1 and out["b"].low is None


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "optimizers_learn", ROOT / "benchmarks" / "optimizers_learn.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(seed, change, words=12.0, kl=1.0, train_s=100.0):
    return {
        "seed": seed,
        "reward_before": 0.875,
        "words_before": 22.9,
        "reward_change": change,
        "reward_after": 0.875 + change,
        "words_after": words,
        "kl_to_reference_nats": kl,
        "train_s": train_s,
    }


def test_benchmark_summary_says_whether_the_change_is_above_zero():
    bench = _benchmark()
    learns = bench.summarize([_run(s, c) for s, c in enumerate([0.05, 0.07, 0.06, 0.08, 0.04])])
    assert learns["learns"] and learns["verdict"].startswith("reward change above zero with 95%")
    assert learns["seeds"] == [0, 1, 2, 3, 4] and learns["reward_change"]["n"] == 5
    low, high = learns["reward_change"]["ci"]
    assert 0 < low < 0.06 < high
    # one seed that goes backwards widens the interval across zero: not shown to learn
    edge = bench.summarize([_run(s, c) for s, c in enumerate([0.08, -0.05, 0.06, 0.0, 0.02])])
    assert not edge["learns"] and "includes zero" in edge["verdict"]
    worse = bench.summarize([_run(s, c) for s, c in enumerate([-0.05, -0.07, -0.06])])
    assert not worse["learns"] and "BELOW zero" in worse["verdict"]
    assert "no interval" in bench.summarize([_run(0, 0.1)])["verdict"]
    text = bench.table({"grpo": learns, "ppo": edge})
    assert text.splitlines()[1].startswith("grpo") and "[0.0" in text.splitlines()[1]
    assert "includes zero" in text.splitlines()[2]


def test_benchmark_report_names_the_command_seeds_and_load_of_each_row():
    bench = _benchmark()
    runs = [
        {**_run(s, c), "train_prompts": 32, "threads": 1, "load_average": f"{14 + s}.0/15.0/14.0"}
        for s, c in enumerate([0.05, 0.07, 0.06])
    ]
    results = {
        "grpo": {
            "options": {"max_steps": 8},
            "settings": {"only": ["grpo"], "threads": 1, "train_prompts": None, "quick": False},
            "runs": runs,
            "summary": bench.summarize(runs),
        },
        "dpo-attempt1": {"options": {}, "settings": {}},  # an old single-run entry: not in the table
    }
    text = bench.report(results)
    assert "python benchmarks/optimizers_learn.py --only grpo --threads 1 --seeds 3" in text
    assert "(seeds 0, 1, 2; 32 training prompts; torch threads 1;" in text and "14.0, 15.0, 16.0" in text
    assert "dpo-attempt1" not in text and "above zero with 95% confidence" in text
