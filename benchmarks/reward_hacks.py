"""The code reward before and after the reward-hack guards: canonical solutions, hack corpus, sandbox time.

Two arms, each the ``rlaif-code`` plugin of one commit, each run in its own subprocess (both are the package
``rlaif_code``): *before* is the plugin exported from ``--base`` (default: where this branch left ``main``)
with ``git archive``, *after* is the plugin in this checkout. Each arm scores

* every canonical solution of HumanEval (164) and of MBPP sanitized (``code`` column, 264) with the code
  reward, one program at a time, timing each ``judge`` call (sandbox start to verdict: wall seconds, and
  the CPU seconds of the sandbox's processes, which other people's load on the machine barely moves);
* the reward-hack corpus of ``plugins/rlaif-code/tests/hack_programs.py``: wrong programs that try to be
  accepted anyway, and correct controls.

The canonical rows run in chunks with the arms alternating (A B, then B A) so that load drifting on a
shared machine hits both alike; the load average is printed before and after. Data: the full sets in
``../shared/data`` relative to the repository root, or ``$RLAIF_DATA_DIR``.

    python benchmarks/reward_hacks.py                 # everything (~4 minutes on 2 cores)
    python benchmarks/reward_hacks.py --quick         # 12 rows per dataset, the corpus once
    python benchmarks/reward_hacks.py --base 2bf65a2 --out benchmarks/results/reward_hacks.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PLUGIN = Path("plugins") / "rlaif-code"


def data_dir() -> Path:
    return Path(os.environ.get("RLAIF_DATA_DIR") or REPO.parent / "shared" / "data")


def load_average() -> str:
    try:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    root = "root" if os.geteuid() == 0 else "not root (no privilege drop, no namespaces)"
    return f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, {root}"


def hack_of(message: str) -> str | None:
    if message.startswith("hack: "):
        return message[len("hack: ") :]
    if message.startswith("forbidden operation: "):
        return message
    return None


# ---- worker: runs inside one arm's subprocess ------------------------------------------------------


def worker(plugin_dir: str) -> None:
    """Read jobs (JSON list on stdin), judge each with that plugin's CodeReward, print results as JSON."""
    sys.path.insert(0, plugin_dir)
    from rlaif_code.reward import CodeReward

    assert Path(sys.modules["rlaif_code"].__file__).is_relative_to(plugin_dir), "wrong plugin imported"
    jobs = json.load(sys.stdin)
    reward = CodeReward(workers=1, timeout=30, cpu_seconds=30)
    results = []
    for job in jobs:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        outcome = reward.judge(job["text"], job["row"])
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        results.append(
            {
                "id": job["id"],
                "score": outcome.score,
                "status": outcome.status,
                "message": outcome.message[:300],
                "seconds": round(seconds, 4),
                "cpu_seconds": round(cpu, 4),
            }
        )
    json.dump(results, sys.stdout)


def run_arm(plugin_dir: Path, jobs: list[dict]) -> list[dict]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", str(plugin_dir)],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"worker for {plugin_dir} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


# ---- parent --------------------------------------------------------------------------------------


def export_plugin(rev: str, into: Path) -> Path:
    """The plugin directory as it was at ``rev`` (``git archive``), under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, str(PLUGIN)],
        capture_output=True,
        check=True,
    ).stdout
    tar_path = into / "plugin.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into / PLUGIN


def default_base() -> str:
    for ref in ("main", "origin/main"):
        found = subprocess.run(
            ["git", "-C", str(REPO), "merge-base", "HEAD", ref], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    raise SystemExit("no merge-base with main: pass --base REV")


def canonical_jobs(limit: int | None) -> list[dict]:
    directory = data_dir()
    jobs = []
    for name, field in (("humaneval.jsonl", "canonical_solution"), ("mbpp_sanitized.jsonl", "code")):
        path = directory / name
        if not path.exists():
            raise SystemExit(f"{path} not found: set RLAIF_DATA_DIR to the folder with the shared data sets")
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rows[:limit]:
            dataset = "humaneval" if field == "canonical_solution" else "mbpp"
            jobs.append(
                {"id": f"{dataset}/{row['task_id']}", "dataset": dataset, "text": row[field], "row": row}
            )
    return jobs


def corpus_jobs() -> list[dict]:
    spec = importlib.util.spec_from_file_location(
        "hack_programs", REPO / PLUGIN / "tests" / "hack_programs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    jobs = []
    for kind, cases in (("hack", module.HACKS), ("control", module.CONTROLS)):
        for case in cases:
            jobs.append(
                {
                    "id": f"{kind}/{case.name}",
                    "dataset": kind,
                    "text": case.completion,
                    "row": module.ROWS[case.row],
                    "guard": case.guard,
                }
            )
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--base", help="Commit whose plugin is the 'before' arm (default: merge-base with main)."
    )
    parser.add_argument("--quick", action="store_true", help="12 rows per dataset.")
    parser.add_argument("--chunks", type=int, default=6, help="Chunks of canonical rows, arms alternating.")
    parser.add_argument("--out", type=Path, help="Write the full results (JSON) here.")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    base = args.base or default_base()
    print(f"machine: {machine()}", file=sys.stderr)
    print(f"before: plugin at {base}; after: this checkout. load {load_average()}", file=sys.stderr)
    canonical = canonical_jobs(12 if args.quick else None)
    corpus = corpus_jobs()
    results: dict[str, dict[str, dict]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory(prefix="reward-hacks-") as tmp:
        arms = {"before": export_plugin(base, Path(tmp)), "after": REPO / PLUGIN}
        chunks = max(1, min(args.chunks, len(canonical)))
        size = -(-len(canonical) // chunks)
        started = time.perf_counter()
        for index in range(chunks):
            part = canonical[index * size : (index + 1) * size]
            order = ["before", "after"] if index % 2 == 0 else ["after", "before"]
            for arm in order:
                for result in run_arm(arms[arm], part):
                    results[arm][result["id"]] = result
            print(
                f"  chunk {index + 1}/{chunks} done ({time.perf_counter() - started:.0f} s, load {load_average()})",
                file=sys.stderr,
            )
        for arm in ("before", "after"):
            for result in run_arm(arms[arm], corpus):
                results[arm][result["id"]] = result
    print(f"load after: {load_average()}", file=sys.stderr)
    summary = summarize(canonical, corpus, results, base)
    print(render(summary))
    if args.out:
        for arm in results.values():  # keep the file small: why a program failed, not that it passed
            for result in arm.values():
                if result["score"] == 1.0:
                    result.pop("message", None)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"summary": summary, "results": results}, separators=(",", ":")) + "\n"
        )
    return 0


def summarize(canonical: list[dict], corpus: list[dict], results: dict, base: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"base": base, "machine": machine(), "datasets": {}, "corpus": []}
    for dataset in ("humaneval", "mbpp"):
        ids = [job["id"] for job in canonical if job["dataset"] == dataset]
        entry = {"n": len(ids)}
        for arm in ("before", "after"):
            rows = [results[arm][i] for i in ids]
            seconds = [row["seconds"] for row in rows]
            cpu = [row["cpu_seconds"] for row in rows]
            entry[arm] = {
                "passed": sum(row["score"] == 1.0 for row in rows),
                "failed": [(i, results[arm][i]["message"]) for i in ids if results[arm][i]["score"] != 1.0],
                "median_s": statistics.median(seconds) if seconds else None,
                "mean_s": statistics.fmean(seconds) if seconds else None,
                "median_cpu_s": statistics.median(cpu) if cpu else None,
            }
        summary["datasets"][dataset] = entry
    for job in corpus:
        before, after = results["before"][job["id"]], results["after"][job["id"]]
        summary["corpus"].append(
            {
                "id": job["id"],
                "expected_guard": job.get("guard"),
                "before": before["score"],
                "after": after["score"],
                "after_message": after["message"],
                "after_hack": hack_of(after["message"]),
            }
        )
    return summary


def render(summary: dict[str, Any]) -> str:
    lines = [f"base (before): {summary['base']}", f"machine: {summary['machine']}", ""]
    lines.append(
        "| canonical solutions | n | passed before | after | median wall s/program before | after "
        "| median sandbox CPU s before | after |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for dataset, entry in summary["datasets"].items():
        before, after = entry["before"], entry["after"]
        lines.append(
            f"| {dataset} | {entry['n']} | {before['passed']} | {after['passed']} | "
            f"{before['median_s']:.3f} | {after['median_s']:.3f} | "
            f"{before['median_cpu_s']:.3f} | {after['median_cpu_s']:.3f} |"
        )
    for entry in summary["datasets"].values():
        for arm in ("before", "after"):
            for task, message in entry[arm]["failed"]:
                lines.append(f"  {arm} failed {task}: {message[:160]}")
    hacks = [c for c in summary["corpus"] if c["id"].startswith("hack/")]
    controls = [c for c in summary["corpus"] if c["id"].startswith("control/")]
    lines += [
        "",
        f"hack corpus: {len(hacks)} hacks, {sum(c['before'] == 1.0 for c in hacks)} scored 1.0 before, "
        f"{sum(c['after'] == 1.0 for c in hacks)} after; {len(controls)} controls, "
        f"{sum(c['before'] == 1.0 for c in controls)} scored 1.0 before, {sum(c['after'] == 1.0 for c in controls)} after",
        "",
        "| case | before | after | guard after |",
        "|---|---:|---:|---|",
    ]
    for case in summary["corpus"]:
        guard = case["after_hack"] or (case["after_message"][:70] if case["after"] != 1.0 else "")
        lines.append(f"| {case['id']} | {case['before']:.0f} | {case['after']:.0f} | {guard} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
