"""labels.jsonl: durable appends, replay with undo, torn lines, two processes appending at once."""

import json
import multiprocessing
import os

import pytest

from rlaif.errors import RlaifError
from rlaif.label.store import LabelStore, label_event, read_events, replay, undo_event


def _label(item="i1", labeller="ana", verdict="prefer", chosen="a", **extra):
    return label_event(
        item, "d" * 16, labeller, verdict, "a", "b", chosen=chosen if verdict == "prefer" else None, **extra
    )


def test_events_record_response_ids_who_and_when(tmp_path):
    event = _label(reason="clearer", seconds=4.25, shown_at="2025-01-01T00:00:00Z")
    assert (
        event["chosen"] == "a" and event["rejected"] == "b" and event["left"] == "a" and event["right"] == "b"
    )
    assert event["labeller"] == "ana" and event["reason"] == "clearer" and event["seconds"] == 4.25
    assert event["at"].endswith("Z") and len(event["id"]) == 32
    with pytest.raises(RlaifError, match="chosen response"):
        label_event("i", "d", "ana", "prefer", "a", "b", chosen="c")
    with pytest.raises(RlaifError, match="verdict"):
        label_event("i", "d", "ana", "better", "a", "b")
    with pytest.raises(RlaifError, match="labeller name"):
        label_event("i", "d", "a\nb", "tie", "a", "b")
    assert _label(reason="x\x00y\x1b[31m" + "z" * 5000)["reason"].startswith("xy[31m")
    assert len(_label(reason="z" * 5000)["reason"]) == 2000


def test_append_is_fsynced_before_it_returns(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store = LabelStore(tmp_path / "labels.jsonl")
    event = _label()
    store.append([event])
    size = (tmp_path / "labels.jsonl").stat().st_size
    assert size in synced  # the file, at its final size, was fsync'd inside append
    assert store.events == [event]


def test_replay_applies_undo_as_a_new_event_and_restores_the_previous_label(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    first = _label(chosen="a")
    second = _label(chosen="b")
    other = _label(item="i2", verdict="tie")
    store.append([first, second, other])
    store.append([undo_event(other), undo_event(second)])
    lines = (tmp_path / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0]) == first  # nothing rewritten
    state = replay(store.events)
    assert state.current["ana"] == {"i1": first}
    assert state.last("ana") == first
    store.append([undo_event(first), undo_event(first)])  # a second undo of the same label is ignored
    state = replay(store.events)
    assert state.current["ana"] == {} and state.last("ana") is None
    assert any("already undone" in w for w in state.warnings)


def test_undo_cannot_touch_another_labellers_label(tmp_path):
    mine, theirs = _label(labeller="ana"), _label(labeller="bo")
    forged = undo_event(theirs) | {"labeller": "ana"}
    state = replay([mine, theirs, forged])
    assert state.current["bo"]["i1"] == theirs


def test_torn_line_is_skipped_and_the_next_append_starts_a_fresh_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    good = _label()
    path.write_text(json.dumps(good) + "\n" + '{"v": 1, "type": "label", "id": "tor')
    store = LabelStore(path)
    assert store.events == [good]  # the torn tail waits (it might still be being written)
    later = _label(item="i2")
    store.append([later])
    assert path.read_text().endswith(json.dumps(later) + "\n")
    events, warnings = read_events(path)
    assert events == [good, later] and any("torn" in w for w in warnings)


def test_a_second_reader_sees_what_another_process_appended(tmp_path):
    path = tmp_path / "labels.jsonl"
    reader, writer = LabelStore(path), LabelStore(path)
    writer.append([_label()])
    assert reader.refresh() and len(reader.events) == 1


def _append_many(path, labeller, count):
    store = LabelStore(path)
    for number in range(count):
        store.append([_label(item=f"item-{number}", labeller=labeller, reason="r" * (number % 300))])


def test_two_processes_appending_at_once_never_corrupt_the_file(tmp_path):
    path = tmp_path / "labels.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(path, name, 150)) for name in ("ana", "bo")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 300
    events = [json.loads(line) for line in lines]  # every line whole
    state = replay(events)
    assert len(state.current["ana"]) == 150 and len(state.current["bo"]) == 150


def test_reading_a_missing_or_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(RlaifError, match="labels file not found"):
        read_events(tmp_path / "nope.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(RlaifError, match="directory"):
        LabelStore(tmp_path / "dir.jsonl")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"prompt": "x"}\n[1, 2]\n')
    with pytest.raises(RlaifError, match="not a labels file"):  # never read (or appended to) as labels
        read_events(foreign)
    store = LabelStore(foreign)
    assert store.events == [] and len(store.warnings) == 2


def test_a_full_disk_is_a_clear_error_and_leaves_the_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.append([_label()])
    before = path.read_bytes()

    def refuse(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", refuse)
    with pytest.raises(RlaifError, match="No space left"):
        store.append([_label(item="i2")])
    assert path.read_bytes() == before


def test_a_file_that_shrinks_under_a_reader_is_an_error_not_silent_loss(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = LabelStore(path)
    store.append([_label(), _label(item="i2")])
    path.write_text(json.dumps(_label(item="i3")) + "\n")
    with pytest.raises(RlaifError, match="shrank"):
        store.refresh()
