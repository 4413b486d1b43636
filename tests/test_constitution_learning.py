"""`rlaif constitution learn` / `audit`: merging, Wilson bounds, greedy selection, the held-out report, resume and
every input format, proven exact with a critic that proposes known principles and a judge whose agreement per
principle is known (tests.learn_doubles). One slow test runs the real embedded model end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.constitution import load_constitution
from rlaif.constitution_learning import LearnOptions, audit_constitution, learn_constitution
from rlaif.constitution_learning.data import load_learning_pairs
from rlaif.constitution_learning.learn import split_pairs
from rlaif.constitution_learning.merge import merge_proposals, similarity
from rlaif.constitution_learning.propose import parse_properties
from rlaif.constitution_learning.select import agreement_of, select_principles
from rlaif.errors import RlaifError
from rlaif.plugins import load_registry
from tests.learn_doubles import KnownModel

REPO = Path(__file__).resolve().parent.parent


def registry():
    return load_registry(("tests.learn_doubles",))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def known_rows(n: int = 40) -> list[dict]:
    """The chosen reply is the longer one except on every 5th pair; it mentions apples on every 4th."""
    rows = []
    for i in range(n):
        long, short = f"A long and careful answer number {i} " + "x" * i, f"Short {i}."
        chosen, rejected = (long, short) if i % 5 else (short, long)
        if i % 4 == 0:
            chosen += " apple"
        rows.append({"id": f"q{i}", "prompt": f"Question {i}?", "chosen": chosen, "rejected": rejected})
    return rows


class Pool:
    """A BuildContext with one known model in every role (counts its calls)."""

    def __init__(self, model: KnownModel):
        self.registry = registry()
        self.m = model

    def model(self, role_or_spec):
        return self.m

    def with_roles(self, keep_options=True, **specs):
        return self

    def close(self):
        pass


def exact(rows, predicate) -> float:
    return sum(1.0 if predicate(r) else 0.0 for r in rows) / len(rows)


# -- pure parts ----------------------------------------------------------------------------------------------


def test_parse_properties_reads_only_the_asked_form():
    reply = (
        "Here are rules:\n1. Select the response that is more concise. It helps.\n"
        "- select the reply which Avoids jargon!\n* Select the response that is more concise\n"
        "Select the response that x\nBe nice.\nSelect the response that answers first"
    )
    assert parse_properties(reply, 5) == ["is more concise", "avoids jargon", "answers first"]
    assert parse_properties(reply, 1) == ["is more concise"]
    assert parse_properties("no rules here", 3) == []
    assert parse_properties(
        "1. **Select the response that cites sources**: it is\nSelect the reply that is easy to", 3
    ) == [
        "cites sources"  # stops at the bold/colon; "is easy to" was cut off by the token limit
    ]
    assert parse_properties("You should pick a reply that is based on evidence, not opinion.", 3) == [
        "is based on evidence, not opinion"
    ]


def test_merge_joins_near_duplicates_and_keeps_opposites_apart():
    assert similarity("is more concise", "is less concise") == pytest.approx(1 / 3)
    assert similarity("gives more detail", "is more detailed") == pytest.approx(2 / 3)
    merged = merge_proposals(
        [
            ("is more concise", "p1"),
            ("is less concise", "p1"),
            ("is more concise", "p2"),
            ("gives more detail", "p3"),
            ("is the more concise one", "p3"),
            ("is more detailed", "p4"),
            ("Is More Concise", "p4"),
        ],
        threshold=0.6,
    )
    assert [(c.property, c.support, c.variants) for c in merged] == [
        ("is more concise", 4, ("is more concise", "is the more concise one")),
        ("gives more detail", 2, ("gives more detail", "is more detailed")),
        ("is less concise", 1, ("is less concise",)),
    ]
    assert (
        merge_proposals([("is more concise", "a"), ("is more detailed", "b")], threshold=0.3)[0].support == 2
    )


def test_wilson_bounds_are_exact_and_decide_what_is_kept():
    eight = agreement_of([1.0] * 8 + [0.0] * 2)  # 8/10: 95% Wilson (0.4902, 0.9433), worked by hand
    assert eight.interval == pytest.approx((0.490162, 0.943318), abs=1e-6)
    sixteen = agreement_of([1.0] * 16 + [0.0] * 4)  # 16/20: (0.5840, 0.9193)
    assert sixteen.interval == pytest.approx((0.583983, 0.919342), abs=1e-6)
    halves = agreement_of([0.5] * 4)  # ties count half: 2/4
    assert halves.agreement == 0.5 and halves.interval == pytest.approx((0.150039, 0.849961), abs=1e-6)
    same_n = select_principles({"a": [0.9] * 8 + [0.1] * 2, "b": [0.9] * 10}, n=10)
    assert same_n.kept == ["b"] and same_n.scores["a"].interval[0] < 0.5 < same_n.scores["b"].interval[0]


def test_greedy_selection_adds_what_raises_set_agreement_and_stops():
    # 6 pairs. A agrees on 4 (strongly), B on 5 (weakly), C duplicates A.
    a = [0.9, 0.9, 0.9, 0.9, 0.1, 0.1]
    b = [0.6, 0.6, 0.6, 0.4, 0.6, 0.6]
    c = list(a)
    selection = select_principles({"a": a, "b": b, "c": c}, max_principles=3, min_lower_bound=0.0, n=6)
    # b alone: 5/6; b+a: mean P = .75,.75,.75,.65,.35,.35 -> 4/6 (worse); so b only.
    assert selection.selected == ["b"]
    assert [s["agreement"] for s in selection.steps] == [0.5, round(5 / 6, 4)]
    base = select_principles({"a": a, "c": c}, base=[([0.5] * 6, 2.0)], min_lower_bound=0.0, n=6)
    assert base.selected == ["a"] and base.steps[-1]["agreement"] == round(4 / 6, 4)  # c adds nothing after a
    assert select_principles({"a": a}, min_lower_bound=0.5, n=6).selected == []  # 4/6 on 6 pairs: not sure


# -- learn, with the known doubles ---------------------------------------------------------------------------


def learn(tmp_path, model=None, **overrides):
    data = write_jsonl(tmp_path / "pairs.jsonl", known_rows())
    settings = LearnOptions(
        critic="known:x", judge="known:x", per_pair=4, start="concise-direct", **overrides
    )
    pool = Pool(model or KnownModel())
    return learn_constitution(data, tmp_path / "learned.yaml", settings, registry=registry(), pool=pool), pool


def test_learn_selects_exactly_the_principles_the_labels_support(tmp_path):
    result, _ = learn(tmp_path)
    rows = known_rows()
    pairs = load_learning_pairs(tmp_path / "pairs.jsonl")
    tune, held = split_pairs(pairs, 0.3, 0)
    assert (len(tune), len(held)) == (28, 12)
    by_id = {p.id: r for p, r in zip(pairs, rows, strict=True)}
    longer = lambda r: len(r["chosen"]) > len(r["rejected"])  # noqa: E731
    candidates = {c["id"]: c for c in result.report["candidates"]}
    assert set(candidates) == {"learned-longer", "learned-mentions-apples", "learned-shorter"}
    assert candidates["learned-longer"]["variants"] == ["is longer", "is the longer one"]  # merged
    assert candidates["learned-longer"]["support"] == 16  # every proposal pair proposed it
    tune_rows = [by_id[p.id] for p in tune]
    assert candidates["learned-longer"]["agreement"] == round(exact(tune_rows, longer), 4)
    assert candidates["learned-shorter"]["agreement"] == round(1 - exact(tune_rows, longer), 4)
    apples = exact(tune_rows, lambda r: "apple" in r["chosen"]) + 0.5 * exact(
        tune_rows, lambda r: "apple" not in r["chosen"]
    )
    assert candidates["learned-mentions-apples"]["agreement"] == round(apples, 4)
    for c in candidates.values():  # kept exactly when the Wilson lower bound is above 1/2
        assert c["interval"] == [round(x, 4) for x in agreement_of([c["agreement"]] * 28).interval]
        assert c["kept"] == (c["interval"][0] > 0.5)
    assert candidates["learned-longer"]["selected"] and not candidates["learned-shorter"]["kept"]
    held_rows = [by_id[p.id] for p in held]
    figures = result.report["held_out"]
    assert figures["longer_wins"]["agreement"] == round(exact(held_rows, longer), 4)
    assert figures["starting"]["agreement"] == 0.5  # the double ties on every concise-direct question
    # starting principles tie at 0.5, so the learned set sides with "longer" on every held-out pair
    assert figures["learned"]["agreement"] == figures["longer_wins"]["agreement"]
    assert figures["learned"]["n"] == 12
    check = CliRunner().invoke(build_cli(), ["constitution", "check", str(tmp_path / "learned.yaml")])
    assert check.exit_code == 0, check.output
    written = load_constitution(tmp_path / "learned.yaml")
    assert [p.id for p in written.principles][:3] == [
        p.id for p in load_constitution("concise-direct").principles
    ]
    meta = written.principle("learned-longer").metadata
    assert meta["agreement"] == candidates["learned-longer"]["agreement"] and meta["n"] == 28
    assert meta["interval"] == candidates["learned-longer"]["interval"]
    assert meta["held_out"]["agreement"] == round(exact(held_rows, longer), 4)
    # every principle says what was measured of it, the starting ones too
    for start in load_constitution("concise-direct").principles:
        measured = written.principle(start.id).metadata["measured"]
        assert measured["origin"] == "starting constitution" and measured["n"] == 28
        assert measured["agreement"] == 0.5 and measured["held_out"]["agreement"] == 0.5
        assert written.principle(start.id).judging_question == start.judging_question


def test_from_scratch_writes_only_learned_principles_or_nothing(tmp_path):
    result, _ = learn(tmp_path, from_scratch=True)
    assert [p.id for p in result.constitution.principles] == ["learned-longer"]
    (tmp_path / "strict").mkdir()
    nothing, _ = learn(tmp_path / "strict", from_scratch=True, min_lower_bound=0.99)
    assert nothing.constitution is None and nothing.output is None
    assert not (tmp_path / "strict" / "learned.yaml").exists()
    assert nothing.report["held_out"]["learned"] is None


def test_a_killed_learn_resumes_without_redoing_finished_calls(tmp_path):
    (tmp_path / "full").mkdir()
    full, pool = learn(tmp_path / "full")
    total_label_calls = len(pool.m.label_calls)
    crashing = KnownModel(fail_after=7)
    with pytest.raises(KeyboardInterrupt):
        learn(tmp_path, model=crashing)
    lines = (tmp_path / "learned.yaml.journal.jsonl").read_text().splitlines()
    done = [json.loads(line) for line in lines]
    # 16 critic calls, then 3 judged batches of 8 pairs (2 label calls each, one per order); the 7th label call
    # was the first order of the 4th batch, in flight when killed: its batch is not in the journal
    assert [r["kind"] for r in done] == ["propose"] * 16 + ["judge"] * 24
    assert not (tmp_path / "learned.yaml").exists()
    again = KnownModel()
    resumed, _ = learn(tmp_path, model=again)
    assert again.generate_calls == []  # no critic call is made again
    assert len(again.label_calls) == total_label_calls - 6  # nor any finished judge call
    assert resumed.report["calls"]["reused"] == len(done)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("calls", "data")}  # noqa: E731
    assert strip(resumed.report) == strip(full.report)


def test_kill_9_mid_learn_then_rerun_redoes_no_finished_call(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    data = write_jsonl(tmp_path / "pairs.jsonl", known_rows())
    out, journal = tmp_path / "learned.yaml", tmp_path / "learned.yaml.journal.jsonl"
    args = ["constitution", "learn", str(data), "-o", str(out), "--per-pair", "4", "-q", "--json"]
    slow = [*args, "--critic", "known:c", "--judge", "{spec: known:c, delay: 0.3}"]
    env = {**os.environ, "RLAIF_PLUGINS": "tests.learn_doubles", "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-m", "rlaif", *slow], cwd=REPO, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and sum(1 for _ in journal.open()) >= 16 + 16:  # proposals + 2 judged batches
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the learn finished before it could be killed"
    finished = journal.read_bytes().count(b"\n")  # whole records (a torn last line is dropped on reopening)
    assert not out.exists() and finished >= 32
    rerun = subprocess.run(
        [sys.executable, "-m", "rlaif", *slow], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    calls = json.loads(rerun.stdout.splitlines()[0])["calls"]
    assert calls["reused"] == finished  # every call on disk at the kill is reused, none made again
    total = len(journal.read_text().splitlines())
    assert calls["made"] == total - finished
    assert out.exists()


# -- formats and audit ---------------------------------------------------------------------------------------


def test_every_input_format_gives_the_same_pairs(tmp_path):
    from rlaif.label.items import load_items
    from rlaif.label.store import LabelStore, label_event

    rows = known_rows(6)
    trl = write_jsonl(tmp_path / "pairs.jsonl", rows)
    expected = [(r["chosen"], r["rejected"]) for r in rows]
    got = lambda path: [(p.chosen, p.rejected) for p in load_learning_pairs(path)]  # noqa: E731
    assert got(trl) == expected
    feedback = write_jsonl(
        tmp_path / "feedback.jsonl",
        [
            {"type": "choice", "prompt": r["prompt"], "accepted": r["chosen"], "rejected": [r["rejected"]]}
            for r in rows
        ],
    )
    assert got(feedback) == expected
    records = write_jsonl(
        tmp_path / "records.jsonl",
        [{"status": "drop", "id": "d"}] + [{**r, "status": "pair"} for r in rows],
    )
    assert got(records) == expected
    target = write_jsonl(
        tmp_path / "target.jsonl", [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} for r in rows]
    )
    store = LabelStore(tmp_path / "labels.jsonl")
    for item in load_items(
        target
    ).items:  # the expert prefers the target's "rejected" side: the original chosen
        ids = [r.id for r in item.responses]
        store.append([label_event(item.id, item.digest, "ana", "prefer", ids[0], ids[1], chosen="rejected")])
    store.append([{"v": 1, "type": "session", "target": "target.jsonl"}])
    assert got(tmp_path / "labels.jsonl") == expected
    bad = write_jsonl(tmp_path / "bad.jsonl", [rows[0], {"prompt": "x", "chosen": "y"}])
    with pytest.raises(RlaifError, match=r"bad.jsonl: line 2: missing field 'rejected'"):
        load_learning_pairs(bad)
    same = write_jsonl(tmp_path / "same.jsonl", [{"prompt": "x", "chosen": "y", "rejected": "y"}])
    with pytest.raises(RlaifError, match=r"same.jsonl: line 1: fields 'chosen' and 'rejected'"):
        load_learning_pairs(same)


def test_audit_reports_each_principle_and_the_labels_nothing_explains(tmp_path):
    rows = known_rows(20)
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    constitution = tmp_path / "c.yaml"
    principle = lambda pid, prop: {  # noqa: E731
        "id": pid,
        "critique_request": "c",
        "revision_request": "r",
        "judging_question": f"Which response {prop}?",
    }
    constitution.write_text(
        yaml.safe_dump(
            {
                "name": "audited",
                "principles": [principle("longer", "is longer"), principle("apples", "mentions apples")],
            }
        )
    )
    report = audit_constitution(
        constitution, data, judge="known:x", registry=registry(), pool=Pool(KnownModel())
    )
    longer = exact(rows, lambda r: len(r["chosen"]) > len(r["rejected"]))
    assert report.principles["longer"]["agreement"] == round(longer, 4)
    assert report.principles["longer"]["picks_longer"] == 1.0
    assert report.longer_wins["agreement"] == round(longer, 4)
    # unexplained: the chosen is shorter and mentions no apple (i % 5 == 0 and i % 4 != 0): 5, 10, 15
    assert report.unexplained == 3
    assert [e["id"] for e in report.examples] == ["q5", "q10", "q15"]
    assert report.principles["apples"]["n"] == 20 and math.isclose(
        report.principles["apples"]["agreement"], round((5 + 0.5 * 15) / 20, 4)
    )


def test_cli_learn_and_audit_print_tables_and_write_a_valid_constitution(tmp_path, monkeypatch):
    monkeypatch.setenv("RLAIF_PLUGINS", "tests.learn_doubles")
    cli = build_cli()
    data = write_jsonl(tmp_path / "pairs.jsonl", known_rows())
    out = tmp_path / "learned.yaml"
    args = ["constitution", "learn", str(data), "-o", str(out), "--critic", "known:c", "--judge", "known:c"]
    result = CliRunner().invoke(cli, [*args, "--per-pair", "4", "-q", "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "learned-longer" in result.output and "longer response wins" in result.output
    assert "Wrote" in result.output and json.loads((tmp_path / "r.json").read_text())["n_held_out"] == 12
    again = CliRunner().invoke(cli, [*args, "--per-pair", "4", "-q"])
    assert "Model calls: 0 made" in again.output
    audit = CliRunner().invoke(
        cli, ["constitution", "audit", str(out), "--labels", str(data), "--judge", "known:c", "-q"]
    )
    assert audit.exit_code == 0, audit.output
    assert "learned-longer" in audit.output and "Labels no principle explains" in audit.output
    none = CliRunner().invoke(cli, [*args, "--from-scratch", "--min-lower-bound", "0.99", "-q"])
    assert none.exit_code == 1 and "nothing written" in none.output


@pytest.mark.slow
def test_learn_and_audit_on_the_real_embedded_model(tmp_path):
    """The real path end to end, kept small: 4 HH pairs, a one-principle starting constitution, short replies."""
    data = REPO / "tests" / "data" / "hh_helpful_base.sample.jsonl"
    start = tmp_path / "start.yaml"
    start.write_text(
        yaml.safe_dump(
            {
                "name": "one",
                "principles": [
                    {
                        "id": "helpful",
                        "critique_request": "Say how the response fails to help.",
                        "revision_request": "Rewrite it to help. Reply with the response only.",
                        "judging_question": "Which response is more helpful?",
                    }
                ],
            }
        )
    )
    model = "{spec: embedded, threads: 1}"
    out = tmp_path / "learned.yaml"
    common = ["--context-turns", "1", "--judge", model, "-q"]
    result = CliRunner().invoke(
        build_cli(),
        ["constitution", "learn", str(data), "-o", str(out), "--limit", "4", "--holdout", "0.5",
         "--propose-pairs", "2", "--per-pair", "1", "--max-candidates", "1", "--max-new-tokens", "32",
         "--critic", model, "--start", str(start), "--report", str(tmp_path / "report.json"), *common],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["held_out"]["starting"]["n"] == 2 and report["held_out"]["learned"]["n"] == 2
    assert report["held_out"]["longer_wins"]["n"] == 2
    assert CliRunner().invoke(build_cli(), ["constitution", "check", str(out)]).exit_code == 0
    audit = CliRunner().invoke(
        build_cli(),
        ["constitution", "audit", str(start), "--labels", str(data), "--limit", "2", "--journal",
         str(out) + ".journal.jsonl", "--json", *common],
    )  # fmt: skip
    assert audit.exit_code == 0, audit.output
    payload = json.loads(audit.stdout)
    assert set(payload["principles"]) == {"helpful"} and payload["n"] == 2
    assert 0 <= payload["principles"]["helpful"]["agreement"] <= 1
