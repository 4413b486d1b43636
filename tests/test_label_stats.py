"""Stats on labels: Cohen's kappa, agreement between labellers, judge vs experts with Wilson intervals."""

import pytest

from rlaif.label.items import load_items
from rlaif.label.stats import cohen_kappa, format_stats, label_stats
from rlaif.label.store import label_event, replay
from tests.fixtures_label import engine_records, write_run


def test_cohen_kappa_matches_hand_computed_values():
    # 50 items: both "yes" 20, both "no" 15, a yes/b no 5, a no/b yes 10 (a textbook 2x2 table)
    pairs = [("y", "y")] * 20 + [("n", "n")] * 15 + [("y", "n")] * 5 + [("n", "y")] * 10
    po = 35 / 50
    pe = (25 / 50) * (30 / 50) + (25 / 50) * (20 / 50)
    assert cohen_kappa(pairs) == pytest.approx((po - pe) / (1 - pe))
    assert cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None  # chance agreement 1: undefined
    assert cohen_kappa([]) is None


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    return load_items(write_run(tmp_path_factory.mktemp("label-stats"), engine_records(hostile=False))).items


def _prefer(item, labeller, response_id, **extra):
    other = item.other(response_id)
    return label_event(
        item.id, item.digest, labeller, "prefer", response_id, other, chosen=response_id, **extra
    )


def _tie(item, labeller):
    return label_event(item.id, item.digest, labeller, "tie", *[r.id for r in item.responses])


def test_judge_expert_agreement_counts_judge_ties_half_and_leaves_expert_ties_out(items):
    by = {item.id: item for item in items}
    events = [
        _prefer(by["r1/p-agree"], "ana", "revision", seconds=3),  # judge chose revision: 1
        _prefer(by["r1/p-orig"], "ana", "revision", seconds=5),  # judge chose original: 0
        _prefer(by["r1/p-tie"], "ana", "original", seconds=7),  # judge tie: 1/2
        _tie(by["r1/p-incons"], "ana"),  # expert tie: left out
        _prefer(by["r1/p-s-pair"], "ana", "sample-1"),  # 1
    ]
    stats = label_stats(replay(events), items)
    assert stats.judge.n == 4 and stats.judge.agreement == pytest.approx(2.5 / 4)
    low, high = stats.judge.ci95
    assert 0 < low < 2.5 / 4 < high < 1
    assert stats.expert_ties == 1 and stats.labelled_items == 5 and stats.disagreements == 2
    assert sum(a.n for a in stats.judge_per_principle.values()) == 4
    ana = stats.labellers[0]
    assert (ana.name, ana.preferences, ana.ties, ana.median_seconds) == ("ana", 4, 1, 5.0)
    text = format_stats(stats)
    assert "judge vs experts" in text and "disagreements: 2" in text


def test_pairwise_agreement_and_kappa_on_shared_items_use_response_ids_not_sides(items):
    by = {item.id: item for item in items}
    names = ["r1/p-agree", "r1/p-orig", "r1/p-tie", "r1/p-incons"]
    ana = [_prefer(by[n], "ana", "revision") for n in names]
    bo = [_prefer(by[n], "bo", "revision") for n in names[:3]] + [_prefer(by[names[3]], "bo", "original")]
    bo.append(_prefer(by["r1/p-split"], "bo", "original"))  # not shared
    stats = label_stats(replay(ana + bo), items)
    (pair,) = stats.pairs
    assert (pair.first, pair.second, pair.shared) == ("ana", "bo", 4)
    assert pair.agreement == pytest.approx(0.75)
    assert pair.kappa == pytest.approx(cohen_kappa([("s", "s")] * 3 + [("s", "f")]), abs=1e-12)


def test_split_experts_make_a_tie_and_stale_or_foreign_labels_are_set_aside(items):
    by = {item.id: item for item in items}
    item = by["r1/p-agree"]
    events = [_prefer(item, "ana", "revision"), _prefer(item, "bo", "original")]
    stale = _prefer(by["r1/p-orig"], "cy", "revision")
    stale["digest"] = "0" * 16
    foreign = label_event("r9/elsewhere", "x" * 16, "cy", "tie", "a", "b")
    stats = label_stats(replay([*events, stale, foreign]), items)
    assert stats.split_items == 1 and stats.expert_ties == 1 and stats.judge.n == 0
    assert any("different version" in note for note in stats.notes)
    assert any("not in this target" in note for note in stats.notes)


def test_figures_for_the_report_exist_only_when_a_run_has_labels(tmp_path):
    from rlaif.label.stats import run_label_figures
    from rlaif.label.store import LabelStore

    run = write_run(tmp_path, engine_records(hostile=False))
    assert run_label_figures(run) is None
    item = next(i for i in load_items(run) if i.id == "r1/p-orig")
    LabelStore(run / "labels.jsonl").append([_prefer(item, "ana", "revision")])
    figures = run_label_figures(run)
    assert (
        figures["labelled_items"] == 1 and figures["disagreements"] == 1 and figures["labellers"] == ["ana"]
    )
    assert figures["judge"]["n"] == 1 and figures["judge"]["agreement"] == 0.0
