"""Labelling fixtures: run records made by the engine's own pair-building code (with a scripted judge), run
directories, preference files, and a real `rlaif label` server in a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from rlaif.constitution import load_constitution
from rlaif.engine.strategies import PairSettings, decide_sampled, judge_revisions
from rlaif.protocols import Verdict

REPO = Path(__file__).resolve().parent.parent
HOSTILE = [
    "<img src=x onerror=\"window.__pwned='img'\">",
    "</script><script>window.__pwned='script'</script>",
    "[click me](javascript:window.__pwned='link') <a href=\"javascript:window.__pwned='a'\">link</a>",
    "<style>body{display:none}</style><iframe src=\"javascript:window.__pwned='iframe'\"></iframe>",
]


class ScriptedJudge:
    """Answers each comparison from a table keyed by the ``a`` response: ``(p_a, details)``."""

    name = "pairwise"
    temperature = 0.1

    def __init__(self, table: dict[str, tuple[float, dict[str, Any]]]):
        self.table = table

    def compare(self, comparisons):
        out = []
        for comparison in comparisons:
            p_a, details = self.table[comparison.a]
            out.append(Verdict(p_a, {"judge": self.name, **details}))
        return out


def _orders(p_a: float, raw: tuple[float, float] | None = None) -> dict[str, Any]:
    first, second = raw or (p_a, p_a)
    return {
        "p_a_order_ab": p_a,
        "p_a_order_ba": p_a,
        "raw_p_a_order_ab": first,
        "raw_p_a_order_ba": second,
        "tie": False,
    }


def engine_records(hostile: bool = True) -> list[dict[str, Any]]:
    """One round's records covering every case an item can come from, built by the engine's pair code."""
    constitution = load_constitution("helpful-harmless")
    principles = list(constitution.principles)
    cases = [
        # id, original, revision, p_a (P original better), details
        ("agree", "Paris is in Italy.", "Paris is the capital of France.", 0.2, _orders(0.2)),
        ("orig", "Water boils at 100 C at sea level.", "Water boils whenever.", 0.7, _orders(0.7)),
        ("tie", "Use a hammer.", "Use a screwdriver.", 0.51, _orders(0.51)),
        ("incons", "Sort with sorted().", "Write a bubble sort.", 0.45, _orders(0.45, (0.8, 0.3))),
        ("split", "Two plus two is four.", "It is 4.", 0.35, {**_orders(0.35), "disagreement": 1 / 3}),
    ]
    if hostile:
        for number, payload in enumerate(HOSTILE):
            cases.append((f"hostile-{number}", f"plain {payload}", f"revised {payload}", 0.3, _orders(0.3)))
    records, indices, asked, table = [], [], [], {}
    for number, (name, original, revision, p_a, details) in enumerate(cases):
        records.append(
            {
                "id": f"p-{name}",
                "round": 1,
                "seed": number,
                "principle_id": principles[number % len(principles)].id,
                "constitution": constitution.name,
                "models": {"policy": "fake:p", "critic": "fake:p", "judge": "fake:p"},
                "prompt": [{"role": "user", "content": f"question {name}?"}],
                "original": original,
                "critique": f"critique of {name}",
                "revision": revision,
            }
        )
        indices.append(number)
        asked.append(principles[number % len(principles)])
        table[original] = (p_a, details)
    for record in records:
        if record["id"].startswith("p-hostile-"):  # the conversation carries the payload too
            payload = HOSTILE[int(record["id"].rsplit("-", 1)[1])]
            record["prompt"] = [{"role": "user", "content": f"Say {payload}"}]
    judge_revisions(records, indices, asked, constitution, ScriptedJudge(table), 0.05, PairSettings())
    base = {k: records[0][k] for k in ("round", "constitution", "models")}
    records.append(
        {
            **base,
            "id": "p-empty",
            "seed": 90,
            "principle_id": principles[0].id,
            "prompt": [{"role": "user", "content": "q"}],
            "original": "",
            "critique": "c",
            "revision": "r",
            "status": "drop",
            "reason": "empty answer",
        }
    )
    records.append(
        {
            **base,
            "id": "p-same",
            "seed": 91,
            "principle_id": principles[0].id,
            "prompt": [{"role": "user", "content": "q"}],
            "original": "same",
            "critique": "c",
            "revision": "same",
            "status": "drop",
            "reason": "revision identical to answer",
        }
    )
    judge = ScriptedJudge({})
    for name, scores, min_margin in (
        ("s-pair", [[0.1], [0.9], [0.5]], 0.0),
        ("s-low", [[0.4], [0.7], [0.5]], 0.5),
        ("s-tie", [[0.5], [0.5001], [0.5]], 0.0),
    ):
        record = {
            **base,
            "id": f"p-{name}",
            "seed": 100 + len(records),
            "principle_id": principles[0].id,
            "prompt": [{"role": "user", "content": f"question {name}?"}],
            "strategy": "best-of-n",
            "candidates": [f"{name} short", f"{name} a much better answer", f"{name} middling"],
            "candidate_seeds": [1, 2, 3],
        }
        decide_sampled(
            record,
            record["candidates"],
            scores,
            principles[:1],
            PairSettings(strategy="best-of-n", n=3, min_margin=min_margin),
            judge,
            0.05,
        )
        records.append(record)
    return records


def write_run(folder: Path, records: list[dict[str, Any]]) -> Path:
    """A run directory as `rlaif generate` leaves it (manifest, constitution, round-1 records and pairs)."""
    run = folder / "run"
    (run / "round-1").mkdir(parents=True, exist_ok=True)
    (run / "round-1" / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    pairs = [r for r in records if r.get("status") == "pair"]
    (run / "round-1" / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pairs))
    (run / "constitution.yaml").write_text(yaml.safe_dump(load_constitution("helpful-harmless").to_dict()))
    (run / "manifest.json").write_text(
        json.dumps({"status": "complete", "rounds": [{"round": 1, "records": "round-1/records.jsonl"}]})
    )
    return run


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def marker_pairs(n: int) -> list[dict[str, Any]]:
    """TRL pairs the fake judge (tests.doubles) has an opinion on: it prefers the response saying IMPROVED,
    which is the file's chosen on even pairs and its rejected on odd ones."""
    rows = []
    for i in range(n):
        good, plain = f"IMPROVED answer {i}, with detail", f"answer {i}"
        chosen, rejected = (good, plain) if i % 2 == 0 else (plain, good)
        rows.append(
            {
                "id": f"q{i}",
                "prompt": [{"role": "user", "content": f"question {i}"}],
                "chosen": chosen,
                "rejected": rejected,
            }
        )
    return rows


class LabelServer:
    """`python -m rlaif label TARGET --no-browser ...` in a subprocess on a free port."""

    def __init__(self, target: Path, *args: str, env: dict[str, str] | None = None):
        self.target = target
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        environment.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rlaif", "label", str(target), "--no-browser", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        self.output: list[str] = []
        self.url = self._wait_for_url()
        self.base, _, self.token = self.url.partition("/?token=")
        self.base = self.base.rstrip("/")
        self._csrf: str | None = None

    def _wait_for_url(self, timeout: float = 60.0) -> str:
        found: list[str] = []
        done = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                match = re.search(r"Open: (http://\S+)", line)
                if match and not found:
                    found.append(match.group(1))
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        done.wait(timeout)
        if not found:
            self.stop()
            raise RuntimeError("rlaif label did not start:\n" + "".join(self.output))
        return found[0]

    # -- HTTP API ------------------------------------------------------------------------------------------------
    def request(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ):
        sent = {"X-Rlaif-Token": self.token, **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.base + path, data=data, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            status, page = self.request("/")
            assert status == 200, page
            self._csrf = re.search(r'name="rlaif-csrf" content="([^"]+)"', page).group(1)
        return self._csrf

    def next(self, labeller: str) -> dict[str, Any]:
        status, text = self.request(f"/api/next?labeller={urllib.request.quote(labeller)}")
        assert status == 200, text
        return json.loads(text)

    def label(self, labeller: str, item: str, choice: str, reason: str = "") -> dict[str, Any]:
        status, text = self.request(
            "/api/label",
            {"labeller": labeller, "item": item, "choice": choice, "reason": reason, "seconds": 1.5},
            {"X-Rlaif-Csrf": self.csrf},
        )
        assert status == 200, text
        return json.loads(text)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> LabelServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_until(condition, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()
