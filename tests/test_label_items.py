"""What can be labelled: items from run directories, records/pairs files and TRL datasets; queue order, overlap,
blind sides; hostile and malformed inputs."""

from collections import Counter

import pytest

from rlaif.errors import RlaifError
from rlaif.label.items import default_labels_path, load_items
from rlaif.label.queue import Assigner, flagged, order_items, sides
from rlaif.label.store import label_event, replay
from tests.fixtures_label import HOSTILE, engine_records, marker_pairs, write_jsonl, write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("label-items"), engine_records())


def test_run_directory_items_include_ties_and_low_margin_but_not_empty_drops(run):
    items = load_items(run)
    ids = [item.id for item in items]
    assert "r1/p-tie" in ids and "r1/p-s-low" in ids and "r1/p-s-tie" in ids
    assert "r1/p-empty" not in ids and "r1/p-same" not in ids
    assert items.skipped == Counter({"empty answer": 1, "revision identical to answer": 1})
    tie = items.get("r1/p-tie")
    assert tie.status == "drop" and tie.reason == "tie" and tie.judge.choice is None
    assert {r.id for r in tie.responses} == {"original", "revision"}
    low = items.get("r1/p-s-low")
    assert low.judge.choice == "sample-1" and [r.id for r in low.responses] == ["sample-1", "sample-0"]
    agree = items.get("r1/p-agree")
    assert agree.judge.choice == "revision" and agree.judge.p_of(
        "revision", agree.responses
    ) == pytest.approx(0.8)
    assert agree.question and "?" in agree.question  # the run's constitution gives the judging question
    assert agree.critique == "critique of agree"
    assert default_labels_path(run) == run / "labels.jsonl"


def test_a_records_or_pairs_file_gives_the_same_ids_and_labels_go_to_the_run(run):
    by_dir = {item.id: item.digest for item in load_items(run)}
    records = load_items(run / "round-1" / "records.jsonl")
    pairs = load_items(run / "round-1" / "pairs.jsonl")
    assert {i.id: i.digest for i in records} == by_dir
    assert set(i.id for i in pairs) <= set(by_dir) and all(i.status == "pair" for i in pairs)
    assert default_labels_path(run / "round-1" / "records.jsonl") == run.resolve() / "labels.jsonl"


def test_preference_files_explicit_implicit_and_datasets(tmp_path):
    rows = marker_pairs(4)
    rows.append(
        {
            "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}],
            "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}],
        }
    )
    items = load_items(write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert [i.id for i in items][:4] == ["q0", "q1", "q2", "q3"]
    implicit = items.items[4]
    assert implicit.id.startswith("h-") and implicit.prompt == ({"role": "user", "content": "hi"},)
    assert implicit.file_choice == "chosen" and implicit.judge is None and implicit.question
    assert load_items(tmp_path / "pairs.jsonl").items[4].id == implicit.id  # content ids are stable
    from datasets import Dataset

    Dataset.from_list(marker_pairs(3)).save_to_disk(str(tmp_path / "ds"))
    assert [i.id for i in load_items(tmp_path / "ds")] == ["q0", "q1", "q2"]
    assert default_labels_path(tmp_path / "ds") == tmp_path / "labels.jsonl"


def test_duplicate_ids_stay_distinct_items(tmp_path):
    rows = marker_pairs(2)
    rows[1]["id"] = rows[0]["id"]
    items = load_items(write_jsonl(tmp_path / "dup.jsonl", rows))
    assert [i.id for i in items] == ["q0", "q0#2"] and items.warnings


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "x", "chosen": "a"}\n', "line 1: missing field 'rejected'"),
        (
            '{"prompt": "x", "chosen": "a", "rejected": "b"}\nnot json\n{"prompt": "y", "chosen": "a", "rejected": "b"}\n',
            "line 2: invalid JSON",
        ),
        ("[1, 2]\n", "line 1: expected a JSON object"),
        ('{"prompt": 5, "chosen": "a", "rejected": "b"}\n', "field 'prompt'"),
        ('{"prompt": "x", "chosen": "same", "rejected": "same"}\n', "nothing to label"),
        (b"\xff\xfe".decode("latin-1"), "not valid UTF-8"),
    ],
)
def test_bad_targets_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content.encode("latin-1") if "\xff" in content else content.encode())
    with pytest.raises(RlaifError, match=message):
        load_items(path)


def test_missing_target_and_a_torn_journal_tail(tmp_path, run):
    with pytest.raises(RlaifError, match="not found"):
        load_items(tmp_path / "nope")
    path = tmp_path / "records.jsonl"
    path.write_text((run / "round-1" / "records.jsonl").read_text() + '{"id": "p-x", "status": "pa')
    items = load_items(path)
    assert len(items) == len(load_items(run)) and any("incomplete" in w for w in items.warnings)


def test_hostile_text_is_kept_verbatim(run):
    items = load_items(run)
    texts = {r.text for item in items for r in item.responses}
    for payload in HOSTILE:
        assert f"revised {payload}" in texts


def test_uncertain_order_puts_what_the_judge_was_unsure_of_first(run):
    items = load_items(run).items
    ordered = order_items(items, "uncertain")
    flagged_ids = {i.id for i in items if flagged(i)}
    assert flagged_ids == {"r1/p-tie", "r1/p-incons", "r1/p-split", "r1/p-s-tie"}
    assert {i.id for i in ordered[: len(flagged_ids)]} == flagged_ids
    margins = [i.judge.margin for i in ordered[len(flagged_ids) :]]
    assert margins == sorted(margins)
    assert [i.id for i in order_items(items, "file")] == [i.id for i in items]
    assert order_items(items, "random", seed=1) == order_items(items, "random", seed=1)
    assert order_items(items, "random", seed=1) != order_items(items, "random", seed=2)
    with pytest.raises(RlaifError, match="--order"):
        order_items(items, "best")


def test_sides_are_fixed_per_labeller_balanced_and_blind(tmp_path):
    items = load_items(write_jsonl(tmp_path / "p.jsonl", marker_pairs(200))).items
    firsts = [sides(item, "ana")[0].id for item in items]
    assert firsts == [sides(item, "ana")[0].id for item in items]  # a reload shows the same page
    assert 70 < firsts.count("chosen") < 130  # balanced: the side says nothing about the file's choice
    assert firsts != [sides(item, "bo")[0].id for item in items]  # each labeller has their own order


def test_overlap_shows_each_item_to_k_labellers_and_claims_stop_double_work(tmp_path):
    items = load_items(write_jsonl(tmp_path / "p.jsonl", marker_pairs(6))).items
    events = []
    assigner = Assigner(order_items(items, "file"), overlap=2)
    seen = Counter()
    clock = 0.0
    for _ in range(40):
        progressed = False
        for labeller in ("ana", "bo", "cy"):
            clock += 1
            item = assigner.next_for(labeller, replay(events), clock)
            if item is None:
                continue
            progressed = True
            events.append(label_event(item.id, item.digest, labeller, "tie", "chosen", "rejected"))
            assigner.release(labeller)
            seen[item.id] += 1
        if not progressed:
            break
    assert seen == Counter({item.id: 2 for item in items})
    state = replay(events)
    assert assigner.progress("ana", state).complete == 6
    # an item open on one page is not handed to a second labeller while overlap is 1 ...
    one = Assigner(order_items(items, "file"), overlap=1, claim_seconds=60)
    first = one.next_for("ana", replay([]), 0.0)
    assert one.next_for("bo", replay([]), 1.0).id != first.id
    # ... until the claim expires
    assert one.next_for("cy", replay([]), 120.0).id == first.id


def test_skipped_items_come_back_last_and_an_undone_item_comes_next(tmp_path):
    items = load_items(write_jsonl(tmp_path / "p.jsonl", marker_pairs(3))).items
    assigner = Assigner(order_items(items, "file"))
    skip = label_event("q0", items[0].digest, "ana", "skip", "chosen", "rejected")
    events = [skip]
    assert assigner.next_for("ana", replay(events), 0).id == "q1"
    assigner.release("ana")
    events += [label_event(i.id, i.digest, "ana", "tie", "chosen", "rejected") for i in items[1:]]
    assert assigner.next_for("ana", replay(events), 1).id == "q0"
    assigner.pin("ana", "q2")
    events.append({"type": "undo", "id": "u", "undoes": events[-1]["id"], "labeller": "ana"})
    assert assigner.next_for("ana", replay(events), 2).id == "q2"
    progress = assigner.progress("ana", replay(events), 3)
    assert (progress.labelled, progress.skipped, progress.total) == (1, 1, 3)
