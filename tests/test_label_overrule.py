"""Overrule: human verdicts applied to a round's records (flip, drop, add) with provenance."""

import copy

from rlaif.label.items import load_items
from rlaif.label.overrule import apply_labels, overrule_counts
from rlaif.label.store import label_event, undo_event
from tests.fixtures_label import engine_records, marker_pairs, write_jsonl, write_run


def _label(item, labeller, chosen=None):
    ids = [r.id for r in item.responses]
    if chosen is None:
        return label_event(item.id, item.digest, labeller, "tie", *ids)
    return label_event(item.id, item.digest, labeller, "prefer", ids[0], ids[1], chosen=chosen)


def test_flip_drop_add_and_provenance(tmp_path):
    records = engine_records(hostile=False)
    before = copy.deepcopy(records)
    by = {item.id: item for item in load_items(write_run(tmp_path, records))}
    events = [
        _label(by["r1/p-agree"], "ana", "revision"),  # confirms the judge
        _label(by["r1/p-orig"], "ana", "revision"),  # flips it
        _label(by["r1/p-incons"], "ana"),  # a human tie drops the pair
        _label(by["r1/p-tie"], "ana", "original"),  # an AI tie becomes a pair
        _label(by["r1/p-s-low"], "ana", "sample-0"),  # a low-margin drop becomes a pair, the other way
        _label(by["r1/p-s-pair"], "ana", "sample-0"),
        _label(by["r1/p-s-pair"], "bo", "sample-0"),
    ]
    out = {r["id"]: r for r in apply_labels(records, events)}
    assert records == before  # pure
    agree = out["p-agree"]
    assert (
        agree["status"] == "pair"
        and agree["chosen_source"] == "revision"
        and agree["label_source"] == "human"
    )
    assert agree["human"]["overruled"] is False and agree["labellers"] == ["ana"]
    flipped = out["p-orig"]
    original = next(r for r in records if r["id"] == "p-orig")
    assert flipped["chosen"] == original["rejected"] and flipped["rejected"] == original["chosen"]
    assert flipped["chosen_source"] == "revision" and flipped["human"]["ai"]["chosen_source"] == "original"
    dropped = out["p-incons"]
    assert dropped["status"] == "drop" and dropped["reason"] == "human tie" and "chosen" not in dropped
    added = out["p-tie"]
    assert added["status"] == "pair" and "reason" not in added and added["human"]["ai"]["reason"] == "tie"
    assert added["chosen"] == [{"role": "assistant", "content": original_text(records, "p-tie", "original")}]
    low = out["p-s-low"]
    assert low["status"] == "pair" and low["chosen_source"] == "sample-0"
    assert low["chosen"][0]["content"] == low["candidates"][0]
    both = out["p-s-pair"]
    assert both["labellers"] == ["ana", "bo"] and both["human"]["votes"] == {"sample-0": 2}
    untouched = out["p-split"]
    assert untouched["label_source"] == "ai" and "human" not in untouched
    assert out["p-empty"]["status"] == "drop" and "label_source" not in out["p-empty"]
    assert overrule_counts(out.values()) == {"confirmed": 1, "flipped": 2, "dropped": 1, "added": 2}
    from rlaif.records import pairs_dataset  # what the pipeline trains on accepts the overruled records

    dataset = pairs_dataset(list(out.values()))
    assert len(dataset) == sum(r["status"] == "pair" for r in out.values())
    assert dataset[dataset["id"].index("p-tie")]["chosen"] == added["chosen"]


def original_text(records, record_id, field):
    return next(r for r in records if r["id"] == record_id)[field]


def test_undone_labels_and_labels_on_a_regenerated_run_do_not_apply(tmp_path):
    records = engine_records(hostile=False)
    by = {item.id: item for item in load_items(write_run(tmp_path, records))}
    flip = _label(by["r1/p-orig"], "ana", "revision")
    out = {r["id"]: r for r in apply_labels(records, [flip, undo_event(flip)])}
    assert out["p-orig"]["label_source"] == "ai" and out["p-orig"]["chosen_source"] == "original"
    regenerated = copy.deepcopy(records)
    for record in regenerated:
        if record["id"] == "p-orig":
            record["revision"] = "a different revision after --overwrite"
    out = {r["id"]: r for r in apply_labels(regenerated, [flip])}
    assert out["p-orig"]["label_source"] == "ai"


def test_preference_file_records_swap_in_place_and_ties_become_drops(tmp_path):
    rows = marker_pairs(4)
    by = {item.id: item for item in load_items(write_jsonl(tmp_path / "p.jsonl", rows))}
    events = [_label(by["q0"], "ana", "rejected"), _label(by["q1"], "ana"), _label(by["q2"], "ana", "chosen")]
    out = apply_labels(rows, events)
    assert out[0]["chosen"] == rows[0]["rejected"] and out[0]["rejected"] == rows[0]["chosen"]
    assert out[1]["status"] == "drop" and out[1]["reason"] == "human tie"
    assert out[2]["chosen"] == rows[2]["chosen"] and out[2]["label_source"] == "human"
    assert out[3]["label_source"] == "file"
