"""`rlaif label stats|export|import`, `judge-eval --labels`, `judge fit-ensemble --labels`, and bad input."""

import json

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.label.items import load_items
from rlaif.label.store import LabelStore, label_event, read_events
from tests.fixtures_label import engine_records, marker_pairs, write_jsonl, write_run


def cli(*args):
    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def _prefer(item, labeller, chosen, reason=""):
    ids = [r.id for r in item.responses]
    return label_event(item.id, item.digest, labeller, "prefer", ids[0], ids[1], chosen=chosen, reason=reason)


@pytest.fixture
def labelled_run(tmp_path):
    run = write_run(tmp_path, engine_records(hostile=False))
    by = {item.id: item for item in load_items(run)}
    store = LabelStore(run / "labels.jsonl")
    store.append(
        [
            _prefer(by["r1/p-agree"], "ana", "revision"),
            _prefer(by["r1/p-orig"], "ana", "revision", reason="the original is wrong"),
            _prefer(by["r1/p-tie"], "ana", "original"),
            _prefer(by["r1/p-agree"], "bo", "revision"),
            _prefer(by["r1/p-orig"], "bo", "original"),
        ]
    )
    return run


def test_help_teaches_the_keys_targets_and_next_steps():
    result = cli("label", "--help")
    assert result.exit_code == 0
    for words in ("rlaif label TARGET", "run directory", "labels.jsonl", "judge-eval --labels", "export"):
        assert words in result.output
    serve = cli("label", "serve", "--help").output
    assert "1 left better" in serve and "blind" in serve and "--overlap" in serve and "token" in serve


def test_a_non_local_bind_without_a_token_is_refused(labelled_run):
    result = cli("label", labelled_run, "--host", "0.0.0.0", "--no-token", "--no-browser")
    assert result.exit_code == 2 and "refusing to serve on 0.0.0.0 without an access token" in result.output
    assert "Traceback" not in result.output
    result = cli("label", labelled_run, "--token", "short", "--no-browser")
    assert result.exit_code == 2 and "at least 16 characters" in result.output


def test_stats_text_and_json(labelled_run):
    result = cli("label", "stats", labelled_run)
    assert result.exit_code == 0, result.output
    assert "ana" in result.output and "bo" in result.output and "Cohen's kappa" in result.output
    data = json.loads(cli("label", "stats", labelled_run / "labels.jsonl", "--json").output)
    assert data["labelled_items"] == 3 and data["split_items"] == 1
    assert {p["shared"] for p in data["pairs"]} == {2}
    missing = cli("label", "stats", labelled_run / "round-1")
    assert missing.exit_code == 2 and "no labels" in missing.output.lower()


def test_export_trl_human_only_and_with_the_judges_pairs(labelled_run, tmp_path):
    out = tmp_path / "human.jsonl"
    assert cli("label", "export", labelled_run, "--format", "trl", "-o", out).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # p-agree (both revision), p-tie (ana: original); p-orig split 1-1 -> human tie -> not a pair
    assert sorted(r["id"] for r in rows) == ["p-agree", "p-tie"]
    assert all(r["label_source"] == "human" and r["labellers"] for r in rows)
    everything = tmp_path / "all.jsonl"
    result = cli("label", "export", labelled_run, "--format", "trl", "--include-unlabelled", "-o", everything)
    assert result.exit_code == 0, result.output
    rows = {json.loads(line)["id"]: json.loads(line) for line in everything.read_text().splitlines()}
    assert "p-orig" not in rows and rows["p-split"]["label_source"] == "ai" and "p-tie" in rows
    from rlaif.judges.data import load_preference_pairs

    assert len(load_preference_pairs(everything)) == len(rows)


def test_label_studio_round_trip(labelled_run, tmp_path):
    tasks_path = tmp_path / "tasks.json"
    result = cli("label", "export", labelled_run, "--format", "label-studio", "-o", tasks_path)
    assert result.exit_code == 0, result.output
    assert '<Choices name="preference"' in (tmp_path / "tasks.xml").read_text()
    tasks = json.loads(tasks_path.read_text())
    by_item = {task["data"]["rlaif_item"]: task for task in tasks}
    for key in ("revision", "chosen_source", "p_revision"):
        assert all(key not in task["data"] for task in tasks)  # blind: no identities or verdicts
    # what Label Studio's JSON export looks like after two annotators worked on the tasks
    exported = []
    for number, (_, task) in enumerate(sorted(by_item.items())):
        task = json.loads(json.dumps(task))
        task["id"] = number + 1
        task["annotations"] = [
            {
                "id": 100 + number,
                "completed_by": {"email": "cy@example.com"},
                "result": [
                    {
                        "from_name": "preference",
                        "to_name": "response_1",
                        "type": "choices",
                        "value": {"choices": ["Response 1"]},
                    },
                    {
                        "from_name": "reason",
                        "to_name": "response_1",
                        "type": "textarea",
                        "value": {"text": ["<b>clear</b>"]},
                    },
                ],
                "lead_time": 12.5,
                "was_cancelled": False,
                "updated_at": "2025-01-01T00:00:00Z",
            },
            {"id": 200 + number, "completed_by": 7, "result": [], "was_cancelled": True},
        ]
        exported.append(task)
    export_path = tmp_path / "export.json"
    export_path.write_text(json.dumps(exported))
    result = cli("label", "import", labelled_run, export_path)
    assert result.exit_code == 0, result.output
    assert f"imported {len(tasks)} label(s)" in result.output and "cancelled" in result.output
    again = cli("label", "import", labelled_run, export_path)
    assert "imported 0 label(s)" in again.output and f"{len(tasks)} already imported" in again.output
    events, _ = read_events(labelled_run / "labels.jsonl")
    imported = [e for e in events if e.get("source") == "label-studio"]
    items = {item.id: item for item in load_items(labelled_run)}
    for event in imported:
        task = by_item[event["item"]]
        first = items[event["item"]].response(event["chosen"]).text
        assert first == task["data"]["response_1"]  # "Response 1" mapped back to the right response id
        assert event["labeller"] == "label-studio:cy@example.com" and event["reason"] == "<b>clear</b>"
    edited = json.loads(export_path.read_text())
    edited[0]["annotations"][0]["updated_at"] = "2025-02-02T00:00:00Z"
    edited[0]["annotations"][0]["result"][0]["value"]["choices"] = ["Tie"]
    export_path.write_text(json.dumps(edited))
    assert "imported 1 label(s)" in cli("label", "import", labelled_run, export_path).output


def test_argilla_round_trip_flat_and_nested(labelled_run, tmp_path):
    out = tmp_path / "argilla.jsonl"
    assert cli("label", "export", labelled_run, "--format", "argilla", "-o", out).exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    flat = dict(records[0])
    flat.update(
        {
            "preference.responses": ["response_2", "tie"],
            "preference.responses.users": ["u1", "u2"],
            "preference.responses.status": ["submitted", "submitted"],
        }
    )
    nested = {
        "id": records[1]["id"],
        "metadata": {"rlaif_order": records[1]["rlaif_order"], "rlaif_digest": records[1]["rlaif_digest"]},
        "responses": {
            "preference": [
                {"value": "response_1", "user_id": "u1", "status": "draft"},
                {"value": "response_1", "user_id": "u3", "status": "submitted"},
            ],
            "reason": [{"value": "shorter", "user_id": "u3", "status": "submitted"}],
        },
    }
    path = tmp_path / "records.json"
    path.write_text(json.dumps([flat, nested]))
    result = cli("label", "import", labelled_run, path)
    assert result.exit_code == 0, result.output
    assert "imported 3 label(s)" in result.output and "draft" in result.output
    events, _ = read_events(labelled_run / "labels.jsonl")
    mine = [e for e in events if e.get("source") == "argilla"]
    assert {e["labeller"] for e in mine} == {"argilla:u1", "argilla:u2", "argilla:u3"}
    assert [e["reason"] for e in mine if e["labeller"] == "argilla:u3"] == ["shorter"]


def test_import_rejects_what_it_cannot_map(labelled_run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"data": {"text": "x"}, "annotations": [{"id": 1, "result": []}]}]))
    result = cli("label", "import", labelled_run, bad)
    assert result.exit_code == 0 and "not an item of this target" in result.output
    bad.write_text("{not json")
    result = cli("label", "import", labelled_run, bad)
    assert result.exit_code == 2 and "invalid JSON" in result.output
    bad.write_text(json.dumps([{"something": 1}]))
    assert "cannot tell the export's format" in cli("label", "import", labelled_run, bad).output


def _fake_config(tmp_path):
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump({"plugins": ["tests.doubles"], "models": {"policy": "fake:p"}}))
    return path


def test_judge_eval_on_labels_equals_judge_eval_on_the_same_pairs(tmp_path):
    rows = marker_pairs(8)
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    items = load_items(data).items
    store = LabelStore(tmp_path / "labels.jsonl")
    expected = []
    for number, (row, item) in enumerate(zip(rows, items, strict=True)):
        improved = "chosen" if "IMPROVED" in row["chosen"] else "rejected"
        pick = improved if number < 5 else item.other(improved)  # the expert disagrees with the marker on 3
        store.append([_prefer(item, "ana", pick)])
        chosen, rejected = row[pick], row[item.other(pick)]
        expected.append({"id": row["id"], "prompt": row["prompt"], "chosen": chosen, "rejected": rejected})
    store.append([{"v": 1, "type": "session", "target": "pairs.jsonl"}])
    expected_path = write_jsonl(tmp_path / "expected.jsonl", expected)
    config = _fake_config(tmp_path)
    by_labels = cli("judge-eval", config, "--labels", tmp_path / "labels.jsonl", "--json")
    by_data = cli("judge-eval", config, "--data", expected_path, "--json")
    assert by_labels.exit_code == 0, by_labels.output
    a, b = json.loads(by_labels.stdout), json.loads(by_data.stdout)
    for volatile in ("pairs_per_second", "seconds"):
        a.pop(volatile), b.pop(volatile)
    assert a.pop("labels") and a.pop("per_principle") == {}
    assert a == b and a["n"] == 8 and a["agreement"] == pytest.approx(5 / 8)
    both = cli("judge-eval", config, "--data", expected_path, "--labels", tmp_path / "labels.jsonl")
    assert both.exit_code == 2 and "one of them" in both.output


def test_judge_eval_on_a_runs_labels_judges_each_item_under_its_principle(labelled_run, tmp_path):
    result = cli("judge-eval", _fake_config(tmp_path), "--labels", labelled_run)
    assert result.exit_code == 0, result.output
    assert "agreement with human label" in result.output and "principle " in result.output
    data = json.loads(cli("judge-eval", _fake_config(tmp_path), "--labels", labelled_run, "--json").stdout)
    labelled = {
        item.principle_id for item in load_items(labelled_run) if item.id in ("r1/p-agree", "r1/p-tie")
    }
    assert set(data["per_principle"]) == labelled and data["n"] == 2


def test_fit_ensemble_on_labels(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", marker_pairs(6))
    store = LabelStore(tmp_path / "labels.jsonl")
    for item in load_items(data):
        better = "chosen" if "IMPROVED" in item.response("chosen").text else "rejected"
        store.append([_prefer(item, "ana", better)])
    store.append([{"v": 1, "type": "session", "target": "pairs.jsonl"}])
    output = tmp_path / "ens.json"
    result = cli(
        "judge",
        "fit-ensemble",
        _fake_config(tmp_path),
        "--labels",
        tmp_path / "labels.jsonl",
        "--member",
        "{name: pairwise}",
        "-o",
        output,
    )
    assert result.exit_code == 0, result.output
    fitted = json.loads(output.read_text())
    assert fitted["training"]["n"] == 6 and fitted["training"]["labels"].endswith("labels.jsonl")
    assert fitted["weights"][0] > 0  # the member agrees with the experts, so it gets a positive weight
    assert len((tmp_path / "ens.labelled-pairs.jsonl").read_text().splitlines()) == 6


def test_labels_without_a_known_target_get_a_hint(tmp_path):
    labels = tmp_path / "labels.jsonl"
    LabelStore(labels).append([label_event("q0", "d" * 16, "ana", "tie", "chosen", "rejected")])
    result = cli("label", "stats", labels)
    assert result.exit_code == 2 and "rlaif label stats TARGET --labels FILE" in result.output
    (tmp_path / "pairs.jsonl").write_text(json.dumps(marker_pairs(1)[0]) + "\n")
    assert cli("label", "stats", tmp_path / "pairs.jsonl", "--labels", labels).exit_code == 0


@pytest.mark.slow
def test_the_exported_pair_set_trains_with_dpo(labelled_run, tmp_path):
    from tests.tiny_policy import make_tiny_policy

    pairs = tmp_path / "pairs.jsonl"
    assert (
        cli("label", "export", labelled_run, "--format", "trl", "--include-unlabelled", "-o", pairs).exit_code
        == 0
    )
    policy = make_tiny_policy(tmp_path / "tiny")
    result = cli(
        "train",
        pairs,
        "--policy",
        policy,
        "-o",
        tmp_path / "trained",
        "--option",
        "max_steps=1",
        "--option",
        "max_length=128",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "trained" / "metrics.json").exists()
