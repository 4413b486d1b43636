"""`rlaif label` in a real browser (Debian's Chromium driven by Playwright) against the real server process:
keyboard labelling, undo, reload, two labellers at once, hostile model output, kill -9, and the labels then
driving judge-eval and the overrule step."""

import json
import shutil
import threading

import pytest
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.label.items import load_items, read_records
from rlaif.label.overrule import apply_labels
from rlaif.label.store import read_events, replay
from tests.fixtures_label import HOSTILE, LabelServer, engine_records, write_jsonl, write_run
from tests.fixtures_report import make_fake_run

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed: apt-get install -y chromium"
)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """A run made by `rlaif generate` on the fake backend (its config drives judge-eval later)."""
    return make_fake_run(tmp_path_factory.mktemp("label-browser"), prompts=20, rounds_with_eval=0)


@pytest.fixture(scope="module")
def server(fake_run):
    with LabelServer(fake_run, "--overlap", "2", "--order", "file") as server:
        yield server


class Labeller:
    """One person at one browser: a context of its own (cookies, local storage)."""

    def __init__(self, browser, server, name=None):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on(
            "console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None
        )
        self.page.on(
            "dialog", lambda dialog: (self.problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
        )
        self.page.goto(server.url)
        if name is not None:
            self.page.wait_for_selector("#name-form:not([hidden])")
            self.page.fill("#name-input", name)
            self.page.press("#name-input", "Enter")
        self.wait_ready()

    def wait_ready(self):
        self.page.wait_for_selector(
            "#labelling[data-item]:not([data-item='']), #done:not([hidden])", state="attached"
        )
        self.page.wait_for_selector("#labelling:not([hidden]), #done:not([hidden])")

    @property
    def item(self):
        return self.page.get_attribute("#labelling", "data-item")

    @property
    def saved(self):
        return int(self.page.get_attribute("#labelling", "data-saved"))

    def sides(self):
        return self.page.inner_text("#left-text"), self.page.inner_text("#right-text")

    def press(self, key, wait=True):
        before = self.saved
        self.page.keyboard.press(key)
        if wait:
            self.wait_saved(before + 1)

    def wait_saved(self, count):
        self.page.wait_for_selector(f"#labelling[data-saved='{count}']", state="attached")

    def close(self):
        self.context.close()


def labels_of(path, labeller):
    events, _ = read_events(path)
    return [e for e in events if e.get("type") == "label" and e["labeller"] == labeller]


def test_keyboard_labelling_saves_response_ids_and_reveals_the_judge_only_afterwards(
    browser, server, fake_run
):
    ana = Labeller(browser, server, "ana")
    assert ana.page.is_hidden("#reveal")
    assert "pairwise" not in ana.page.content()  # nothing about the judge is in the page before a verdict
    items = {item.id: item for item in load_items(fake_run)}
    shown = []
    for key in ("1", "2", "3", "1"):
        shown.append((ana.item, key, *ana.sides()))
        ana.press(key)
        assert ana.page.inner_text("#status") == "saved ✓"
        reveal = ana.page.inner_text("#reveal-text")
        assert "The judge (pairwise)" in reveal and ("tie" in reveal if key == "3" else "better" in reveal)
    events = labels_of(fake_run / "labels.jsonl", "ana")
    assert [e["item"] for e in events] == [s[0] for s in shown]
    for (item_id, key, left, right), event in zip(shown, events, strict=True):
        if key == "3":
            assert event["verdict"] == "tie" and "chosen" not in event
        else:
            expected = left if key == "1" else right
            assert items[item_id].response(event["chosen"]).text == expected
            assert event["verdict"] == "prefer" and {event["chosen"], event["rejected"]} == {
                "original",
                "revision",
            }
        assert event["digest"] == items[item_id].digest and event["seconds"] >= 0 and event["shown_at"]
    assert "4 labelled" in ana.page.inner_text("#progress")
    assert ana.problems == []
    ana.close()


def test_undo_goes_back_and_a_reload_resumes_on_the_same_item(browser, server, fake_run):
    bo = Labeller(browser, server, "bo")
    bo.press("1")
    second = bo.item
    bo.press("2")
    bo.page.keyboard.press("u")
    bo.page.wait_for_selector(f"#labelling[data-item='{second}']")
    assert bo.page.inner_text("#status").startswith("undone") and bo.page.is_hidden("#reveal")
    events, _ = read_events(fake_run / "labels.jsonl")
    assert events[-1]["type"] == "undo" and events[-1]["labeller"] == "bo" and events[-1]["item"] == second
    bo.page.reload()
    bo.wait_ready()
    assert bo.item == second  # resumes where bo was, with the name remembered
    assert bo.page.inner_text("#labeller-name") == "bo"
    bo.press("3")
    state = replay(read_events(fake_run / "labels.jsonl")[0])
    assert state.current["bo"][second]["verdict"] == "tie" and len(state.current["bo"]) == 2
    assert bo.problems == []
    bo.close()


def test_buttons_work_like_keys_and_a_reason_is_saved(browser, server, fake_run):
    cy = Labeller(browser, server, "cy")
    cy.page.keyboard.press("r")
    cy.page.keyboard.type("left is 1 clearer")  # digits typed in the reason do not label
    cy.page.keyboard.press("Escape")
    assert cy.saved == 0
    cy.page.click("button[data-choice='left']")
    cy.wait_saved(1)
    assert labels_of(fake_run / "labels.jsonl", "cy")[-1]["reason"] == "left is 1 clearer"
    cy.close()


def test_two_labellers_at_once_with_overlap(browser, server, fake_run):
    dee, eli = Labeller(browser, server, "dee"), Labeller(browser, server, "eli")
    for round_number in range(1, 5):
        dee.press("1", wait=False)
        eli.press("2", wait=False)  # both requests in flight together
        dee.wait_saved(round_number)
        eli.wait_saved(round_number)

    def hammer(name):
        for _ in range(5):
            item = server.next(name)["item"]
            if item is None:
                return
            server.label(name, item["id"], "tie")

    threads = [threading.Thread(target=hammer, args=(name,)) for name in ("api-1", "api-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    lines = (fake_run / "labels.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is whole
    state = replay(events)
    assert len(state.current["dee"]) == 4 and len(state.current["eli"]) == 4
    assert len(state.current["api-1"]) == 5 and len(state.current["api-2"]) == 5
    items = load_items(fake_run)
    for item in items:
        voters = [n for n, e in state.labels_for(item.id).items() if e["verdict"] != "skip"]
        assert len(voters) <= 2, (item.id, voters)  # --overlap 2
    result = CliRunner().invoke(build_cli(), ["label", "stats", str(fake_run), "--json"])
    stats = json.loads(result.stdout)
    assert {c["name"] for c in stats["labellers"]} >= {"ana", "bo", "dee", "eli", "api-1", "api-2"}
    assert any(pair["shared"] > 0 for pair in stats["pairs"])  # overlap 2: some items seen by two people
    assert dee.problems == [] and eli.problems == []
    dee.close()
    eli.close()


def test_summary_and_disagreements_views(browser, server, fake_run):
    fay = Labeller(browser, server, "fay")
    items = {item.id: item for item in load_items(fake_run)}
    for _ in range(3):  # disagree with the fake judge, which always prefers the revision
        left, _ = fay.sides()
        original = items[fay.item].response("original").text
        fay.press("1" if left == original else "2")
    fay.page.click("header nav a[href='/summary']")
    fay.page.wait_for_selector("main.report h1")
    text = fay.page.inner_text("main")
    assert "Judge vs experts" in text and "95% interval" in text and "fay" in text
    fay.page.click("main a[href='/disagreements']")
    fay.page.wait_for_selector("main.report h1")
    assert fay.page.locator("article.disagreement").count() >= 3
    article = fay.page.inner_text("article.disagreement >> nth=0")
    assert "shown first" in article and "Critique (CAI)" in article
    assert fay.problems == []
    fay.close()


def test_labels_from_the_page_drive_judge_eval_and_the_overrule(browser, fake_run, tmp_path):
    from rlaif.label.judging import labelled_pairs

    labels = tmp_path / "gus.jsonl"  # a labeller of their own, so every label is a pair
    items = {item.id: item for item in load_items(fake_run)}
    with LabelServer(fake_run, "--labels", str(labels), "--labeller", "gus", "--order", "random") as own:
        gus = Labeller(browser, own)
        for number in range(8):  # with the judge on five, against it on three, one tie
            left, _ = gus.sides()
            improved = "1" if "IMPROVED" in left else "2"
            gus.press("3" if number == 7 else improved if number < 5 else {"1": "2", "2": "1"}[improved])
        gus.close()
    config = fake_run.parent / "rlaif.yaml"
    pairs = labelled_pairs(labels)
    by_labels = CliRunner().invoke(
        build_cli(), ["judge-eval", str(config), "--labels", str(labels), "--json"]
    )
    assert by_labels.exit_code == 0, by_labels.output
    result = json.loads(by_labels.stdout)
    assert result["n"] == len(pairs) == 7
    assert result["agreement"] == pytest.approx(5 / 7)  # the fake judge prefers the IMPROVED revision
    groups = {}
    for pair in pairs:
        groups.setdefault(pair["principle_id"], []).append(pair)
    assert set(result["per_principle"]) == set(groups) and len(groups) > 1
    for principle, group in groups.items():  # each principle's figures equal judge-eval on those pairs
        data = write_jsonl(tmp_path / f"{principle}.jsonl", group)
        alone = CliRunner().invoke(
            build_cli(), ["judge-eval", str(config), "--data", str(data), "--principle", principle, "--json"]
        )
        figures = json.loads(alone.stdout)
        assert result["per_principle"][principle]["n"] == figures["n"] == len(group)
        assert result["per_principle"][principle]["agreement"] == pytest.approx(figures["agreement"])
    # the overrule: every record the experts decided follows them
    records = apply_labels(read_records(fake_run), read_events(labels)[0])
    for record in records:
        item_id = f"r{record['round']}/{record['id']}"
        if record.get("label_source") != "human":
            continue
        verdict = record["human"]["verdict"]
        if verdict == "tie":
            assert record["status"] == "drop" and record["reason"] == "human tie"
        else:
            assert record["chosen"][0]["content"] == items[item_id].response(verdict).text
        assert record["labellers"] == ["gus"]
    assert sum(record.get("label_source") == "human" for record in records) == 8


def test_hostile_model_output_shows_as_text_and_runs_nothing(browser, tmp_path):
    run = write_run(tmp_path, engine_records())
    name = "<img src=x onerror=\"window.__pwned='name'\">"
    with LabelServer(run, "--order", "file") as hostile_server:
        person = Labeller(browser, hostile_server, name)
        seen = 0
        items = {item.id: item for item in load_items(run)}
        while person.item and seen < len(items):
            item = items[person.item]
            left, right = person.sides()
            assert {left, right} == {r.text for r in item.responses}  # verbatim, as text
            conversation = person.page.inner_text("#conversation")
            assert item.prompt[-1]["content"] in conversation
            assert (
                person.page.locator(
                    "#labelling img, #labelling script, #labelling iframe, a[href^='javascript']"
                ).count()
                == 0
            )
            person.page.keyboard.press("r")
            person.page.keyboard.type(HOSTILE[seen % len(HOSTILE)])
            person.page.keyboard.press("Escape")
            original = (
                item.response("original").text if "original" in {r.id for r in item.responses} else None
            )
            person.press("1" if left == original else "2")
            seen += 1
            if person.page.is_visible("#done"):
                break
        assert seen == len(items)
        assert person.page.inner_text("#labeller-name") == name
        for path in ("/summary", "/disagreements"):
            person.page.goto(hostile_server.base + path)
            person.page.wait_for_selector("main.report")
            assert person.page.evaluate("() => window.__pwned") is None
            assert (
                person.page.locator(
                    "main img, main script, main iframe, a[href^='javascript'], style"
                ).count()
                == 0
            )
        body = person.page.inner_text("main")
        assert HOSTILE[0] in body and "onerror" in body  # reasons and responses shown as text
        assert person.page.evaluate("() => window.__pwned") is None
        assert person.page.title() == "Disagreements · rlaif label"
        assert person.problems == []
        person.close()


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_label_and_a_restart_resumes(browser, fake_run, tmp_path):
    labels = tmp_path / "kill.jsonl"
    server = LabelServer(fake_run, "--labels", str(labels), "--labeller", "kim", "--order", "file")
    kim = Labeller(browser, server)
    acknowledged = []
    for _ in range(5):
        item = kim.item
        kim.press("1")
        acknowledged.append(item)
    kim.page.keyboard.press("2")  # in flight ...
    server.kill9()  # ... when the server dies
    kim.page.wait_for_selector("#status.error, #labelling[data-saved='6']", state="attached")
    on_disk = [e["item"] for e in labels_of(labels, "kim")]
    assert on_disk[: len(acknowledged)] == acknowledged and len(on_disk) <= len(acknowledged) + 1
    restarted = LabelServer(fake_run, "--labels", str(labels), "--labeller", "kim", "--order", "file")
    try:
        kim.page.goto(restarted.url)
        kim.wait_ready()
        assert kim.item not in on_disk  # resumes at the first item kim has not labelled
        assert f"{len(on_disk)} labelled" in kim.page.inner_text("#progress")
        # the API, hammered while the server is killed: every answered label is on disk
        answered = []

        def hammer():
            try:
                while True:
                    item = restarted.next("kim")["item"]
                    if item is None:
                        return
                    answered.append(restarted.label("kim", item["id"], "tie")["event"])
            except Exception:  # noqa: BLE001 - the server is killed under it
                return

        thread = threading.Thread(target=hammer)
        thread.start()
        from tests.fixtures_label import wait_until

        assert wait_until(lambda: len(answered) >= 3, timeout=30)
        restarted.kill9()
        thread.join(30)
        written = {e["id"] for e in labels_of(labels, "kim")}
        assert set(answered) <= written
    finally:
        restarted.stop()
    again = LabelServer(fake_run, "--labels", str(labels), "--labeller", "kim")
    try:
        item = again.next("kim")["item"]
        assert item is None or item["id"] not in {e["item"] for e in labels_of(labels, "kim")}
    finally:
        again.stop()
    kim.close()
