"""`rlaif label` measured: server latency per label, keyboard labels per minute, and judge-eval on labels made
through the page vs judge-eval on the same pairs file.

Data: the first pairs of ``hh_helpful_base.jsonl`` in ``_common.data_dir()`` (``../shared/data`` beside the repo,
or ``$RLAIF_DATA_DIR``); the HH human labels stand in for the experts: the "expert" presses the key of the side
HH marked chosen.

1. **Server latency** (``--latency N``): N labels through the HTTP API on one keep-alive connection, timing each
   ``POST /api/label`` (validate, append, fsync, replay, pick the next item) and ``GET /api/next``; p50 / p95 / max.
2. **Keyboard** (``--keyboard N``): Chromium (Playwright) labels N items with the ``1`` / ``2`` keys, waiting
   for each "saved" before the next key: the page's own ceiling (no reading time), in labels per minute.
   A person's rate is bounded by reading; the script also prints the words per item, from which a rate at a
   given reading speed follows.
3. **judge-eval** (``--judge-eval``): the embedded judge on the labels made in (2) and on the same pairs file
   directly; the two summaries must be identical (timing fields aside).

    python benchmarks/label_page.py --quick
    python benchmarks/label_page.py --latency 200 --keyboard 100 --judge-eval --screenshot docs/img/labelling.png
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, data_dir, header, load_average, table


class Server:
    def __init__(self, target: Path, *args: str):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rlaif", "label", str(target), "--no-browser", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        url: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                match = re.search(r"Open: (http://\S+)", line)
                if match:
                    url.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(120)
        if not url:
            raise SystemExit("rlaif label did not start")
        self.url = url[0]
        base, _, self.token = self.url.partition("/?token=")
        self.port = int(base.rstrip("/").rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def latency(pairs: Path, folder: Path, n: int) -> dict[str, float]:
    server = Server(
        pairs, "--labels", str(folder / "latency.jsonl"), "--labeller", "bench", "--order", "file"
    )
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        auth = {"Host": f"127.0.0.1:{server.port}", "X-Rlaif-Token": server.token}

        def call(method: str, path: str, body: dict | None = None) -> tuple[float, dict]:
            headers = dict(auth)
            data = None
            if body is not None:
                data = json.dumps(body)
                headers.update({"Content-Type": "application/json", "X-Rlaif-Csrf": csrf})
            started = time.perf_counter()
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                raise SystemExit(f"{method} {path}: {response.status} {payload[:200]!r}")
            return elapsed, json.loads(payload) if payload.startswith(b"{") else {}

        connection.request("GET", "/", headers=auth)
        page = connection.getresponse().read().decode()
        csrf = re.search(r'name="rlaif-csrf" content="([^"]+)"', page).group(1)
        label_times, next_times = [], []
        _, state = call("GET", "/api/next?labeller=bench")
        item = state["item"]
        for number in range(n):
            if item is None:
                break
            elapsed, state = call(
                "POST",
                "/api/label",
                {"labeller": "bench", "item": item["id"], "choice": "left" if number % 2 else "right"},
            )
            label_times.append(elapsed)
            item = state["next"]
            elapsed, _ = call("GET", "/api/next?labeller=bench")
            next_times.append(elapsed)
        return {
            "labels": len(label_times),
            "label_p50_ms": 1000 * statistics.median(label_times),
            "label_p95_ms": 1000 * percentile(label_times, 0.95),
            "label_max_ms": 1000 * max(label_times),
            "next_p50_ms": 1000 * statistics.median(next_times),
            "next_p95_ms": 1000 * percentile(next_times, 0.95),
        }
    finally:
        server.stop()


def keyboard(
    pairs: Path, rows: list[dict], folder: Path, n: int, screenshot: Path | None
) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium not found (apt-get install -y chromium)")
    chosen = {row["id"]: row["chosen"] for row in rows}
    labels = folder / "keyboard.jsonl"
    server = Server(
        pairs,
        "--labels",
        str(labels),
        "--labeller",
        "expert",
        "--order",
        "file",
        "--question",
        "Which response is more helpful?",
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(server.url)
            page.wait_for_selector("#labelling:not([hidden])")
            times = []
            started = time.perf_counter()
            for number in range(n):
                item = page.get_attribute("#labelling", "data-item")
                left = page.inner_text("#left-text")
                key = "1" if left.strip() == chosen[item].strip() else "2"
                before = time.perf_counter()
                page.keyboard.press(key)
                page.wait_for_selector(f"#labelling[data-saved='{number + 1}']", state="attached")
                times.append(time.perf_counter() - before)
                if screenshot is not None and number == 2:
                    page.screenshot(path=str(screenshot))
            total = time.perf_counter() - started
            browser.close()
    finally:
        server.stop()
    words = [
        sum(len(m["content"].split()) for m in row["prompt"][-2:])
        + len(row["chosen"].split())
        + len(row["rejected"].split())
        for row in rows[:n]
    ]
    return {
        "labels": n,
        "seconds": total,
        "labels_per_minute": 60 * n / total,
        "key_to_saved_p50_ms": 1000 * statistics.median(times),
        "key_to_saved_p95_ms": 1000 * percentile(times, 0.95),
        "words_per_item_median": statistics.median(words),
        "labels_file": str(labels),
    }


def judge_eval(pairs: Path, labels: Path, n: int, context_turns: int) -> tuple[dict, dict]:
    from rlaif.judges.on_file import evaluate_judge_on_file
    from rlaif.label.judging import evaluate_judge_on_labels

    common = {"context_turns": context_turns, "batch_size": 1, "limit": n}
    on_labels = evaluate_judge_on_labels(str(labels), **common).summary()
    on_file = evaluate_judge_on_file(str(pairs), **common).summary()
    return on_labels, on_file


def shrink_png(path: Path) -> None:
    """A palette PNG: text screenshots lose nothing visible and shrink several-fold."""
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=64).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="20 latency labels, 10 keyboard labels, no judge."
    )
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--keyboard", type=int, default=100)
    parser.add_argument("--judge-eval", action="store_true", help="Also run (3) with the embedded judge.")
    parser.add_argument("--judge-n", type=int, default=40, help="Pairs for (3) (the first labelled ones).")
    parser.add_argument("--context-turns", type=int, default=2)
    parser.add_argument("--screenshot", type=Path, help="Save a screenshot of the page here (PNG).")
    args = parser.parse_args(argv)
    if args.quick:
        args.latency, args.keyboard, args.judge_eval = 20, 10, False
    source = data_dir() / "hh_helpful_base.jsonl"
    header("rlaif label: server latency, keyboard throughput, judge-eval on page labels")
    needed = max(args.latency, args.keyboard) + 1
    lines = source.read_text(encoding="utf-8").splitlines()[:needed]
    rows = [json.loads(line) for line in lines]
    with tempfile.TemporaryDirectory(prefix="rlaif-label-bench-") as tmp:
        folder = Path(tmp)
        pairs = folder / "hh.jsonl"
        pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
        measured = latency(pairs, folder, args.latency)
        print(f"\n## server latency over {measured['labels']} labels (HTTP API, one keep-alive connection)")
        print(
            table(
                ["request", "p50 ms", "p95 ms", "max ms"],
                [
                    [
                        "POST /api/label (append + fsync + next item)",
                        measured["label_p50_ms"],
                        measured["label_p95_ms"],
                        measured["label_max_ms"],
                    ],
                    ["GET /api/next", measured["next_p50_ms"], measured["next_p95_ms"], ""],
                ],
            )
        )
        typed = keyboard(pairs, rows, folder, args.keyboard, args.screenshot)
        if args.screenshot is not None:
            shrink_png(args.screenshot)
            print(f"\nscreenshot: {args.screenshot} ({args.screenshot.stat().st_size:,} bytes)")
        print(f"\n## keyboard in Chromium, {typed['labels']} labels (no reading time: the page's ceiling)")
        print(
            table(
                ["labels/minute", "key→saved p50 ms", "key→saved p95 ms", "words per item (median)"],
                [
                    [
                        typed["labels_per_minute"],
                        typed["key_to_saved_p50_ms"],
                        typed["key_to_saved_p95_ms"],
                        typed["words_per_item_median"],
                    ],
                ],
            )
        )
        for wpm in (200, 300):
            seconds = 60 * typed["words_per_item_median"] / wpm + 60 / typed["labels_per_minute"]
            print(f"  at {wpm} words/minute of reading: about {60 / seconds:.1f} labels/minute")
        if args.judge_eval:
            n = min(args.judge_n, typed["labels"])
            on_labels, on_file = judge_eval(pairs, Path(typed["labels_file"]), n, args.context_turns)
            volatile = ("pairs_per_second", "seconds", "per_principle", "labels")
            same = {k: v for k, v in on_labels.items() if k not in volatile} == {
                k: v for k, v in on_file.items() if k not in volatile
            }
            print(f"\n## judge-eval, embedded judge, first {n} pairs, context {args.context_turns} turns")
            print(
                table(
                    ["data", "n", "agreement", "95% interval", "position consistency", "ECE"],
                    [
                        [
                            name,
                            r["n"],
                            r["agreement"],
                            f"{r['agreement_ci95'][0]:.3f}-{r['agreement_ci95'][1]:.3f}",
                            r["position_consistency"],
                            r["ece"],
                        ]
                        for name, r in (
                            ("labels made through the page", on_labels),
                            ("the pairs file", on_file),
                        )
                    ],
                )
            )
            print(f"identical summaries (timing aside): {'yes' if same else 'NO'}")
    print(f"\nload average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
