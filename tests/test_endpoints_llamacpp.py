"""Two real llama.cpp servers for every role, one killed (SIGKILL) mid-run: the run completes, nothing lost or
duplicated.

The servers are xllamacpp processes serving the embedded GGUF (tests/fixtures_llamacpp.py); the run is
`rlaif generate` through the CLI with ``base_url: [server1, server2]``. After the first chunk of records is saved
the second server is killed; its in-flight requests fail with reset connections, it is taken out of service, and
their retries go to the first. Every prompt must be in the journal exactly once, and the manifest's per-server
usage must show the outage.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner

from rlaif.cli import build_cli
from tests.test_openai_engine import records_of, write_config

PROMPTS = 8


@pytest.mark.slow
def test_two_servers_one_killed_mid_run_loses_and_duplicates_nothing(tmp_path, llamacpp_processes) -> None:
    first, second = llamacpp_processes(2)
    options = {
        "spec": "openai:smollm2",
        "base_url": [first.base_url, second.base_url],
        "max_concurrency": 4,
        "max_retries": 4,
        "backoff_base": 0.05,
        "timeout": 120,
        "endpoint_cooldown": 1.0,
    }
    config = write_config(tmp_path, {role: options for role in ("policy", "critic", "judge")})
    journal = tmp_path / "run" / "round-1" / "records.jsonl"
    killed_after: list[int] = []
    stop = threading.Event()

    def kill_second_after_first_chunk() -> None:
        while not stop.is_set():
            if journal.exists() and len(journal.read_text().splitlines()) >= 2:
                second.kill()
                killed_after.append(len(journal.read_text().splitlines()))
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_second_after_first_chunk, daemon=True)
    watcher.start()
    result = CliRunner().invoke(build_cli(), ["generate", str(config), "-q", "--max-prompts", str(PROMPTS)])
    stop.set()
    watcher.join(timeout=5)
    assert result.exit_code == 0, result.output
    assert killed_after and killed_after[0] < PROMPTS  # the server died while work was left

    records = records_of(tmp_path / "run")
    ids = [record["id"] for record in records]
    assert len(ids) == PROMPTS and len(set(ids)) == PROMPTS  # each prompt exactly once

    usage = json.loads((tmp_path / "run" / "manifest.json").read_text())["rounds"][0]["usage"]
    per_server: dict[str, dict[str, float]] = {}
    for stage in usage.values():
        assert stage.get("failures", 0) == 0
        for url, counts in stage.get("endpoints", {}).items():
            totals = per_server.setdefault(url, {})
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
    assert set(per_server) == {first.base_url, second.base_url}
    dead, alive = per_server[second.base_url], per_server[first.base_url]
    assert dead["taken_out"] >= 1 and dead["errors"] >= 1  # the kill was seen and acted on
    assert dead["connection_errors"] + dead["timeouts"] + dead["server_errors"] == dead["errors"]
    assert alive["errors"] == 0 and alive["requests"] > dead["requests"] - dead["errors"]
    # every try is accounted to a server: successes plus failed tries equal what the stages counted
    assert sum(s["requests"] for s in per_server.values()) == sum(
        stage["requests"] for stage in usage.values()
    )
