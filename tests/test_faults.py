"""Nothing lost: kill -9 at random moments, SIGTERM, full disks -- the journal stays valid and a re-run resumes.

The CLI runs as a real subprocess on the deterministic fake backend, slowed down (``delay``) so it can be
killed part-way; the result after all the kills must equal an uninterrupted run's, record for record.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from rlaif.cli import main; main()"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def write_config(tmp_path: Path, n: int = 5, delay: float = 0.0, output: str = "run", **extra) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"question {i}"}) + "\n" for i in range(n)))
    config = {
        "plugins": ["tests.doubles"],
        "prompts": str(prompts),
        "output_dir": str(tmp_path / output),
        "models": {"policy": {"spec": "fake:policy", "delay": delay}},
        "train": False,
        "chunk_size": 2,
        **extra,
    }
    path = tmp_path / f"{output}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def journal_lines(path: Path) -> list[dict]:
    """Whole records of a journal as a crash left it: every complete line is JSON, ids are unique."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    records = [json.loads(line) for line in complete.splitlines()]
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)), "duplicate records in the journal"
    return records


def by_id(path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == len({r["id"] for r in records})
    return {record["id"]: record for record in records}


def _wait_until_running(proc: subprocess.Popen, run_dir: Path, timeout: float = 30) -> None:
    """Until ``proc`` holds the run directory's lock (its imports are done; the work has begun)."""
    owner = run_dir / ".lock.owner"
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if owner.read_text().startswith(f"pid {proc.pid} "):
                return
        except OSError:
            pass
        time.sleep(0.01)


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    n = 60
    config = write_config(tmp_path, n=n, delay=0.04)
    journal = tmp_path / "run" / "round-1" / "records.jsonl"
    rng = random.Random(20261123)
    kills = kills_with_progress = 0
    started = time.perf_counter()
    for attempt in range(20):
        before = len(journal_lines(journal))
        proc = subprocess.Popen(
            [*CLI, "generate", str(config), "-q"],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if attempt % 5 == 0:  # now and then during start-up (imports, lock, config check)
            time.sleep(rng.uniform(0.05, 1.0))
        else:  # mostly at a random moment of the work itself
            _wait_until_running(proc, tmp_path / "run")
            time.sleep(rng.uniform(0.0, 0.9))
        if proc.poll() is not None:  # it finished before the kill came
            assert proc.returncode == 0
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        after = len(journal_lines(journal))  # asserts: valid JSONL, no duplicates
        kills_with_progress += after > before
    final = subprocess.run(
        [*CLI, "generate", str(config), "-q"], cwd=REPO, env=_env(), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    print(f"\nkills survived: {kills} ({kills_with_progress} mid-generation) in {elapsed:.1f} s")
    assert final.returncode == 0, final.stderr
    assert kills >= 10, "the run finished too fast to be killed: raise the fake model's delay"

    text = journal.read_text()
    assert text.endswith("\n")
    resumed = by_id(journal)
    assert len(resumed) == n  # one record per prompt, none twice

    reference_config = write_config(tmp_path, n=n, delay=0.0, output="reference")
    reference = CliRunner().invoke(build_cli(), ["generate", str(reference_config), "-q"])
    assert reference.exit_code == 0, reference.output
    expected = by_id(tmp_path / "reference" / "round-1" / "records.jsonl")
    assert resumed == expected  # same principle, seed, texts and verdict for every prompt
    assert by_id(tmp_path / "run" / "round-1" / "pairs.jsonl") == by_id(
        tmp_path / "reference" / "round-1" / "pairs.jsonl"
    )
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    reference_manifest = json.loads((tmp_path / "reference" / "manifest.json").read_text())
    assert manifest["rounds"][0]["counts"] == reference_manifest["rounds"][0]["counts"]
    assert manifest["rounds"][0]["counts"]["prompts"] == n and manifest["status"] == "complete"


def test_sigterm_stops_cleanly_with_a_resume_hint(tmp_path):
    config = write_config(tmp_path, n=12, delay=0.05)
    journal = tmp_path / "run" / "round-1" / "records.jsonl"
    proc = subprocess.Popen(
        [*CLI, "generate", str(config), "-q"],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not journal_lines(journal) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.1)  # past the first append's fsync: the signal lands in the middle of the work
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "Interrupted (SIGTERM)" in stderr and "to resume" in stderr
    assert f"rlaif generate {config} -q" in stderr
    assert "Traceback" not in stderr
    done = journal_lines(journal)
    assert 0 < len(done) < 12 and journal.read_bytes().endswith(b"\n")
    assert not (tmp_path / "run" / ".lock.owner").exists()  # the lock was released on the way out
    again = CliRunner().invoke(build_cli(), ["generate", str(config), "-q"])
    assert again.exit_code == 0, again.output
    assert f"{len(done)} of 12 prompts already done" in again.output
    assert len(by_id(journal)) == 12


def test_a_stale_lock_note_from_a_killed_process_does_not_block(tmp_path):
    config = write_config(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").touch()
    (run_dir / ".lock.owner").write_text("pid 999999 on gone-host since yesterday\n")  # holder was kill -9'd
    result = CliRunner().invoke(build_cli(), ["generate", str(config), "-q"])
    assert result.exit_code == 0, result.output
    assert not (run_dir / ".lock.owner").exists()


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def test_disk_full_while_journaling_is_a_clear_error_and_the_journal_stays_valid(tmp_path, monkeypatch):
    config = write_config(tmp_path, n=7)
    journal = tmp_path / "run" / "round-1" / "records.jsonl"
    real_write = os.write
    appends = []

    def full_disk_write(fd, data):
        if _fd_path(fd).endswith("records.jsonl"):
            appends.append(len(data))
            if len(appends) == 3:  # third chunk: half of it reaches the disk, then the disk is full
                real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk_write)
    result = CliRunner().invoke(build_cli(), ["generate", str(config), "-q"])
    monkeypatch.setattr(os, "write", real_write)
    assert result.exit_code == 2, result.output
    assert "records.jsonl: cannot write records (No space left on device)" in result.output
    assert "re-run the same command to resume" in result.output and "Traceback" not in result.output
    assert journal.read_bytes().endswith(b"\n")  # the half-written chunk was cut back off
    assert len(journal_lines(journal)) == 4

    again = CliRunner().invoke(build_cli(), ["generate", str(config), "-q"])
    assert again.exit_code == 0, again.output
    assert "4 of 7 prompts already done" in again.output
    assert len(by_id(journal)) == 7


def test_disk_full_while_writing_the_manifest_keeps_the_previous_one(tmp_path, monkeypatch):
    config = write_config(tmp_path, n=3)
    assert CliRunner().invoke(build_cli(), ["generate", str(config), "-q"]).exit_code == 0
    manifest = tmp_path / "run" / "manifest.json"
    before = manifest.read_text()
    real_fsync = os.fsync

    def full_disk_fsync(fd):
        if ".manifest.json." in _fd_path(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk_fsync)
    result = CliRunner().invoke(build_cli(), ["generate", str(config), "-q"])
    assert result.exit_code == 2, result.output
    assert "manifest.json: cannot write (No space left on device)" in result.output
    assert "Traceback" not in result.output
    assert manifest.read_text() == before
    assert not [p for p in manifest.parent.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind


def test_a_directory_where_the_journal_should_be_is_a_clear_error(tmp_path):
    config = write_config(tmp_path, n=3)
    (tmp_path / "run" / "round-1" / "records.jsonl").mkdir(parents=True)
    result = CliRunner().invoke(build_cli(), ["generate", str(config), "-q"])
    assert result.exit_code == 2 and "records.jsonl: cannot read the journal" in result.output


def test_a_damaged_line_inside_the_journal_is_refused_not_guessed(tmp_path):
    from rlaif.engine import Journal
    from rlaif.errors import RlaifError

    path = tmp_path / "records.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(RlaifError, match="line 2: not a complete journal record"):
        Journal(path)
    path.write_text('{"id": "a"}\n{"id": "b"')  # torn tail only: dropped, the rest kept
    assert Journal(path).records == [{"id": "a"}] and path.read_text() == '{"id": "a"}\n'


def test_an_interrupt_during_an_append_leaves_whole_records(tmp_path, monkeypatch):
    from rlaif.engine import Journal

    journal = Journal(tmp_path / "records.jsonl")
    journal.append([{"id": "a"}])
    real_write = os.write

    def interrupted(fd, data):
        real_write(fd, bytes(data)[:5])
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        journal.append([{"id": "b"}, {"id": "c"}])
    monkeypatch.setattr(os, "write", real_write)
    assert (tmp_path / "records.jsonl").read_text() == '{"id": "a"}\n'


def test_new_starts_a_sibling_run_and_says_where(tmp_path):
    config = write_config(tmp_path, n=2)
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["generate", str(config), "-q"]).exit_code == 0
    changed = write_config(tmp_path, n=2, seed=5)
    refused = runner.invoke(build_cli(), ["generate", str(changed), "-q"])
    assert refused.exit_code == 2 and "--new" in refused.output and "--overwrite" in refused.output
    assert "changed: seed: 0 -> 5" in refused.output
    fresh = runner.invoke(build_cli(), ["generate", str(changed), "-q", "--new"])
    assert fresh.exit_code == 0, fresh.output
    assert f"Starting a fresh run in {tmp_path / 'run-2'}" in fresh.output
    assert (tmp_path / "run-2" / "manifest.json").exists()
    third = runner.invoke(build_cli(), ["generate", str(changed), "-q", "--new"])
    assert f"fresh run in {tmp_path / 'run-3'}" in third.output
    both = runner.invoke(build_cli(), ["generate", str(changed), "--new", "--overwrite"])
    assert both.exit_code == 2 and "exclude each other" in both.output


@pytest.mark.slow
def test_kill_9_during_generation_with_the_real_embedded_model(tmp_path):
    """Two kills against the real model -- one while it loads, one once a record exists (mid-generation) --
    then a resume: one record per prompt, each with the seed and principle its prompt id dictates."""
    import random as stdlib_random

    from rlaif.constitution import load_constitution
    from rlaif.engine import prompt_seed

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"id": f"c{i}", "prompt": f"Name a colour ({i})."}) + "\n" for i in range(3))
    )
    config = tmp_path / "real.yaml"
    tiny = {"max_new_tokens": 4}
    config.write_text(
        yaml.safe_dump(
            {
                "prompts": str(prompts),
                "output_dir": str(tmp_path / "run"),
                "train": False,
                "chunk_size": 1,
                "generation": tiny,
                "critique": tiny,
                "revision": tiny,
            }
        )
    )
    journal = tmp_path / "run" / "round-1" / "records.jsonl"
    env = {**_env(), "OMP_NUM_THREADS": "1"}
    kills = 0
    for wait_for_records in (0, 1):
        proc = subprocess.Popen(
            [*CLI, "generate", str(config), "-q"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until_running(proc, tmp_path / "run", timeout=120)
        deadline = time.monotonic() + 300
        while (
            len(journal_lines(journal)) < wait_for_records
            and proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(0.5 if wait_for_records == 0 else 0.0)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        journal_lines(journal)  # valid JSONL, no duplicates
    assert kills == 2
    final = subprocess.run(
        [*CLI, "generate", str(config), "-q"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    records = by_id(journal)
    assert sorted(records) == ["c0", "c1", "c2"] and journal.read_bytes().endswith(b"\n")
    constitution = load_constitution("helpful-harmless")
    for prompt_id, record in records.items():
        seed = prompt_seed(0, 1, prompt_id)
        assert record["seed"] == seed
        assert record["principle_id"] == constitution.sample(stdlib_random.Random(seed)).id
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["rounds"][0]["counts"]["prompts"] == 3


def test_a_trained_round_is_not_extended_with_new_prompts(tmp_path):
    """`-n 2` then a full run: round 1's checkpoint was trained on 2 prompts, so adding 3 more is refused."""
    config = write_config(tmp_path, n=5)
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["generate", str(config), "-q", "-n", "2"]).exit_code == 0
    manifest_path = tmp_path / "run" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (tmp_path / "run" / "round-1" / "checkpoint").mkdir()
    (tmp_path / "run" / "round-1" / "checkpoint" / "config.json").write_text("{}")
    manifest["rounds"][0].update(status="trained", checkpoint="round-1/checkpoint")
    manifest_path.write_text(json.dumps(manifest))
    same = runner.invoke(build_cli(), ["generate", str(config), "-q", "-n", "2"])
    assert same.exit_code == 0 and "Loading models" not in same.output  # finished: skipped entirely
    more = runner.invoke(build_cli(), ["generate", str(config), "-q"])
    assert more.exit_code == 2
    assert "round 1 was already trained on 2 prompts" in more.output and "--new" in more.output


def test_a_second_process_is_refused_naming_the_first_and_freed_when_it_is_killed(tmp_path):
    config = write_config(tmp_path, n=40, delay=0.2)  # ~16 s of work: it outlives the second start
    first = subprocess.Popen(
        [*CLI, "generate", str(config), "-q"],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_running(first, tmp_path / "run")
        second = subprocess.run(
            [*CLI, "generate", str(config), "-q"], cwd=REPO, env=_env(), capture_output=True, text=True
        )
        assert second.returncode == 2, second.stderr
        assert f"in use by pid {first.pid} on " in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    from rlaif.rundir import RunDirectory

    run_dir = RunDirectory(tmp_path / "run")  # the killed holder's lock died with it
    run_dir.acquire()
    assert f"pid {os.getpid()} " in (tmp_path / "run" / ".lock.owner").read_text()
    run_dir.release()
