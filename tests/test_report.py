"""`rlaif report` (HTML, checked in headless Chromium) and `rlaif data show`, on fake-backend runs."""

import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.report import write_report
from tests.fixtures_report import make_fake_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
]


def chromium(tmp_path, *args):
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    profile.mkdir()
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    return make_fake_run(tmp_path_factory.mktemp("fake-run"))


def test_report_has_every_section_and_escapes_model_text(fake_run):
    path = write_report(fake_run)
    text = path.read_text()
    assert text.count('<img class="plot"') >= 7
    for section in (
        "Rounds",
        "Plots",
        "Evaluation on held-out prompts",
        "Pairs and drops",
        "Constitution",
        "Config",
    ):
        assert f"<h2>{section}</h2>" in text
    assert "<script>document.title" not in text and "&lt;script&gt;document.title" in text
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text  # offline
    assert "Critique" in text and "Revision" in text and "P(revision better)" in text


def test_report_degrades_without_training_eval_or_pairs(tmp_path):
    run = tmp_path / "run"
    (run / "round-1").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"status": "running", "rounds": [{"round": 1}]}))
    (run / "round-1" / "records.jsonl").write_text(
        json.dumps({"id": "a", "status": "drop", "reason": "empty answer", "prompt": [], "round": 1})
        + "\n{torn"
    )
    text = write_report(run).read_text()
    assert "No evaluation in this run" in text and "Not in this run (no data)" in text
    assert "empty answer" in text and "records.jsonl: line 2: invalid JSON" in text and "(skipped)" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(build_cli(), ["report", str(empty)])
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_generate_writes_the_report_and_prints_its_path(tmp_path):
    run = make_fake_run(tmp_path, rounds_with_eval=0, hostile=False)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["report"] == "report.html" and (run / "report.html").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed: apt-get install -y chromium")
def test_report_renders_in_a_real_browser(fake_run, tmp_path):
    path = write_report(fake_run)
    dom = chromium(tmp_path, "--dump-dom", path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html_tag = dom.stdout[dom.stdout.index("<html") : dom.stdout.index(">", dom.stdout.index("<html"))]
    total = int(html_tag.split('data-images-total="')[1].split('"')[0])
    loaded = int(html_tag.split('data-images-loaded="')[1].split('"')[0])
    assert total >= 7 and loaded == total, html_tag
    assert 'data-errors=""' in html_tag, html_tag
    assert "<title>rlaif report" in dom.stdout  # the hostile prompt's script did not run (title unchanged)
    shot = tmp_path / "report.png"
    result = chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", path.as_uri())
    assert result.returncode == 0 and shot.stat().st_size > 50_000
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").resize((64, 100)).getcolors(64 * 100)
        assert colours is None or len(colours) > 20  # plots drawn, not a blank page


def _show(*args):
    return CliRunner().invoke(build_cli(), ["data", "show", *args])


def test_data_show_filters_and_json_passthrough(fake_run):
    records = fake_run / "round-1" / "records.jsonl"
    everything = [json.loads(line) for line in records.read_text().splitlines()]
    principle = everything[0]["principle_id"]
    result = _show(str(records), "--principle", principle, "--json")
    assert result.exit_code == 0, result.output
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert shown and all(r["principle_id"] == principle for r in shown)
    assert len(shown) == sum(r["principle_id"] == principle for r in everything)
    assert _show(str(records), "--reason", "tie", "--json").stdout == ""
    high = _show(str(records), "--min-confidence", "0.2", "--json").stdout.splitlines()
    low = _show(str(records), "--max-confidence", "0.2", "--json").stdout.splitlines()
    assert len(high) + len(low) == len(everything) and high
    assert len(_show(str(records), "--limit", "2", "--json").stdout.splitlines()) == 2
    pretty = _show(str(records), "--limit", "1")
    assert pretty.exit_code == 0 and "PAIR" in pretty.stdout and "critique" in pretty.stdout


def test_data_show_eval_records_by_outcome_and_p(fake_run):
    records = fake_run / "round-1" / "eval_records.jsonl"
    wins = _show(str(records), "--status", "win", "--json").stdout.splitlines()
    assert wins and all(json.loads(line)["outcome"] == "win" for line in wins)
    assert _show(str(records), "--max-p", "0.5", "--json").stdout == ""
    pretty = _show(str(records), "-n", "1")
    assert "WIN" in pretty.stdout and "after (model)" in pretty.stdout


def test_data_show_bad_file_exits_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    result = _show(str(bad))
    assert result.exit_code == 2 and "line 1" in result.output and "Traceback" not in result.output
