"""`rlaif run` with the critic and judge on a real OpenAI-compatible server (llama.cpp via xllamacpp).

End to end through the CLI: records for every prompt, per-stage usage in the manifest, and the API key
(set in the environment, as users do) in no file of the run directory. Then the same through the fault proxy:
a run that meets 429s, 500s, dropped connections and malformed replies loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli

SECRET = "sk-test-SECRET-9d8c7b6a5f4e"
SHORT = {"max_new_tokens": 16}
SAMPLED = {"max_new_tokens": 16, "temperature": 1.0}
"""Revisions are sampled: a greedy 135M model just repeats its critique, and such records never reach the judge."""


def served(base_url: str, **options: Any) -> dict[str, Any]:
    return {"spec": "openai:smollm2", "base_url": base_url, **options}


def write_config(tmp_path: Path, models: dict[str, Any]) -> Path:
    config = {
        "prompts": "default",
        "output_dir": str(tmp_path / "run"),
        "train": False,
        "chunk_size": 2,
        "models": models,
        "generation": SHORT,
        "critique": SHORT,
        "revision": SAMPLED,
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(config: Path, prompts: int) -> Any:
    result = CliRunner().invoke(build_cli(), ["run", str(config), "-q", "--max-prompts", str(prompts)])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    return result


def records_of(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "round-1" / "records.jsonl").read_text().splitlines()]


def run_until_judged(config: Path, run: Path, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Run on ``sizes[0]`` prompts, resuming with the next size while no record reached the judge.

    A 135M critic often copies its critique, and such records are dropped before judging; llama.cpp's batched
    decoding is not batch-invariant, so how many do varies from run to run.
    """
    for size in sizes:
        run_cli(config, size)
        records = records_of(run)
        assert len(records) == size and len({record["id"] for record in records}) == size
        if any("judge" in record for record in records):
            break
    assert any("judge" in record for record in records), [record.get("reason") for record in records]
    return records


def assert_key_nowhere(run: Path) -> None:
    files = [path for path in run.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_run_with_served_critic_and_judge(tmp_path, llamacpp_server, monkeypatch) -> None:
    """The policy is served too, to keep this fast: ``embedded`` as policy passes as well (about 2 minutes on a
    loaded 2-core box, almost all of it torch generating on CPU)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    config = write_config(
        tmp_path,
        {
            "policy": served(llamacpp_server.base_url),
            "critic": served(llamacpp_server.base_url),
            "judge": served(llamacpp_server.base_url, logprobs="auto"),
        },
    )
    run = tmp_path / "run"
    records = run_until_judged(config, run, (2, 4, 8))
    assert all(record["models"]["critic"] == "openai:smollm2" for record in records)
    assert all(record["critique"] for record in records)
    usage = json.loads((run / "manifest.json").read_text())["rounds"][0]["usage"]
    assert usage["critique"]["requests"] == len(records) and usage["revision"]["requests"] == len(records)
    assert usage["critique"]["completion_tokens"] > 0 and usage["critique"]["failures"] == 0
    judged = [record for record in records if "judge" in record]
    assert usage["judge"]["requests"] == 2 * len(judged)  # both orders, one log-prob request each
    assert usage["judge"]["completion_tokens"] == 2 * len(judged)  # max_tokens=1: no text fallback was needed
    for record in judged:
        assert 0.0 <= record["judge"]["p_revision"] <= 1.0
        assert record["judge"]["p_a_order_ab"] is not None and record["judge"]["p_a_order_ba"] is not None
    assert_key_nowhere(run)


@pytest.mark.slow
def test_fault_injected_run_loses_nothing(tmp_path, fault_proxy, monkeypatch) -> None:
    """Every model (policy too) behind the proxy; each prompt's first try of each request meets a fault."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    proxy = fault_proxy(["ok", "429", "ok", "500", "ok", "drop", "ok", "malformed"], per_prompt=True)
    options = {"max_retries": 4, "backoff_base": 0.02, "timeout": 30}
    models = {
        "policy": served(proxy.base_url, **options),
        "critic": served(proxy.base_url, **options),
        "judge": served(proxy.base_url, **options),
    }
    run = tmp_path / "run"
    run_until_judged(write_config(tmp_path, models), run, (4, 8, 12))  # judging ran through the faults too
    faults = proxy.counts()
    assert sum(n for fault, n in faults.items() if fault != "ok") >= 4  # the run really met faults
    manifest = json.loads((run / "manifest.json").read_text())
    usage = manifest["rounds"][0]["usage"]
    assert sum(stage.get("retries", 0) for stage in usage.values()) == len(proxy.log) - faults["ok"]
    assert all(stage.get("failures", 0) == 0 for stage in usage.values())
    assert_key_nowhere(run)


@pytest.mark.slow
def test_server_down_mid_run_stops_cleanly_and_resume_finishes(tmp_path, fault_proxy, monkeypatch) -> None:
    """After the first chunk is saved the server "goes down": exit 2 with a clear message, the saved chunk
    stays; once the server is back, re-running resumes and does only the rest."""
    import threading
    import time

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    proxy = fault_proxy(["ok"])
    options = {"max_retries": 2, "backoff_base": 0.05, "timeout": 30}
    models = {role: served(proxy.base_url, **options) for role in ("policy", "critic", "judge")}
    config = write_config(tmp_path, models)
    journal = tmp_path / "run" / "round-1" / "records.jsonl"
    stop = threading.Event()

    def take_server_down_after_first_chunk() -> None:
        while not stop.is_set():
            if journal.exists() and len(journal.read_text().splitlines()) >= 2:
                proxy.set_schedule(["500"])
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=take_server_down_after_first_chunk, daemon=True)
    watcher.start()
    started = time.monotonic()
    result = CliRunner().invoke(build_cli(), ["run", str(config), "-q", "--max-prompts", "4"])
    stop.set()
    assert result.exit_code == 2, result.output
    assert "request failed after 3 tries" in result.output and "HTTP 500" in result.output
    assert proxy.base_url in result.output and "Traceback" not in result.output
    assert SECRET not in result.output
    assert time.monotonic() - started < 120
    assert len(records_of(tmp_path / "run")) == 2  # the finished chunk was kept

    proxy.set_schedule(["ok"])
    resumed = run_cli(config, 3)
    assert "2 of 3 prompts already done" in resumed.output
    records = records_of(tmp_path / "run")
    assert len(records) == 3 and len({record["id"] for record in records}) == 3
    assert_key_nowhere(tmp_path / "run")
