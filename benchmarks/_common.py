"""Shared bits of the benchmark scripts: machine description, load average, timing, tables.

Benchmarks compare two arms *within one process run*, interleaved (A B A B ...) and summarised by the median,
because on a shared machine the absolute speed drifts with other people's load; a ratio of neighbouring
measurements drifts much less. Every report states the load average seen before and after, so a reader can
tell a quiet measurement from a distorted one.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/x.py` from a checkout works without installing
    sys.path.insert(0, str(REPO))

DATA_ENV = "RLAIF_DATA_DIR"


def data_dir() -> Path:
    """The folder of full public evaluation sets (HH-RLHF, GSM8K, MATH-500, HumanEval, MBPP) a benchmark reads.

    Default ``../shared/data`` next to the repository (where the project keeps them; not in the repo, which only
    carries small samples for tests under ``tests/data``); ``$RLAIF_DATA_DIR`` overrides it for other layouts.
    Fails with a message naming both, because a benchmark on a missing set would otherwise die deep inside.
    """
    configured = os.environ.get(DATA_ENV)
    folder = Path(configured).expanduser() if configured else REPO.parent / "shared" / "data"
    if not folder.is_dir():
        where = f"${DATA_ENV}={configured}" if configured else f"the default {folder}"
        raise SystemExit(
            f"benchmark data folder not found: {where}. Point ${DATA_ENV} at a folder holding the full sets "
            "(e.g. hh_helpful_base.jsonl; sources and licenses in tests/data/README.md)."
        )
    return folder


def load_average() -> str:
    try:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> str:
    """One line: CPU model, cores, torch threads, versions -- what a figure was measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return (
        f"{cpu}, {os.cpu_count()} logical cores, {device}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}"
    )


@dataclass
class Measurement:
    wall: float
    """Seconds of wall-clock time."""
    cpu: float
    """CPU seconds of this process, all threads (``time.process_time``): unlike wall time it barely moves when
    other programs compete for the cores, so on a busy machine it is the steadier measure of work done."""
    out: Any


def timed(call: Callable[[], Any]) -> Measurement:
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    return Measurement(time.perf_counter() - wall, time.process_time() - cpu, out)


def interleaved(arms: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[Measurement]]:
    """Run each arm ``repeats`` times, alternating arms (A B, then B A to cancel order effects)."""
    names = list(arms)
    results: dict[str, list[Measurement]] = {name: [] for name in names}
    for repeat in range(repeats):
        order = names if repeat % 2 == 0 else list(reversed(names))
        for name in order:
            measurement = timed(arms[name])
            results[name].append(measurement)
            print(
                f"  {name}: {measurement.wall:.2f} s wall, {measurement.cpu:.2f} s CPU (load {load_average()})",
                file=sys.stderr,
                flush=True,
            )
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def header(title: str) -> None:
    print(f"# {title}")
    print(f"machine: {machine()}")
    print(f"load average at start (1/5/15 min): {load_average()}")
