"""Wall time and peak memory of the default ``rlaif run`` (no config: embedded model, shipped prompts, DPO, eval).

    python benchmarks/default_run.py            # the real default run
    python benchmarks/default_run.py --quick    # 4 prompts, tiny generations, 1 DPO step (checks the script)

Runs ``rlaif run`` in a subprocess with a fresh temporary output directory. ``RLAIF_HOME`` is inherited, so the
embedded model's one-time GGUF conversion is reused as a user's second run would (run once beforehand if the cache
is cold; the script reports whether it was). Peak memory is reported two ways: the largest single process
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``, exact) and the whole process tree sampled every 0.2 s with psutil.
Targets: <= 10 minutes wall, <= 4 GB peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

QUICK_CONFIG = """\
max_prompts: 4
generation: {max_new_tokens: 12}
critique: {max_new_tokens: 8}
revision: {max_new_tokens: 12}
eval: {holdout: 1, max_prompts: 1}
optimizer: {options: {max_steps: 1}}
"""


def tree_rss(process) -> int:
    import psutil

    try:
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0


def main() -> None:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 prompts, tiny generations, 1 DPO step")
    parser.add_argument("--keep", type=Path, default=None, help="run here instead of a temp dir (kept)")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for the run (default: torch's)"
    )
    args = parser.parse_args()
    _common.header(f"default `rlaif run` (quick={args.quick}, threads={args.threads or 'default'})")
    from rlaif.models.embedded import cache_dir

    warm = (cache_dir() / ".complete").exists()
    print(f"embedded model cache: {'warm' if warm else 'COLD (includes the one-time GGUF conversion)'}")
    with tempfile.TemporaryDirectory() as folder:
        run_dir = args.keep or Path(folder) / "run"
        command = [
            sys.executable,
            "-c",
            "from rlaif.cli import main; main()",
            "run",
            "-o",
            str(run_dir),
            "-q",
        ]
        if args.quick:
            config = Path(folder) / "quick.yaml"
            config.write_text(QUICK_CONFIG)
            command.insert(4, str(config))
        env = {**os.environ, "PYTHONPATH": str(_common.REPO)}
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)  # torch's intra-op pool size at start-up
        start = time.perf_counter()
        child = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        watcher = psutil.Process(child.pid)
        peak_tree = 0
        while child.poll() is None:
            peak_tree = max(peak_tree, tree_rss(watcher))
            time.sleep(0.2)
        wall = time.perf_counter() - start
        output = child.stdout.read()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_process = usage.ru_maxrss * 1024  # KiB on Linux
        cpu = usage.ru_utime + usage.ru_stime
    if child.returncode != 0:
        print(output[-4000:])
        raise SystemExit(f"rlaif run failed with exit code {child.returncode}")
    print(output.strip()[-1500:])
    gb = 1024**3
    print(
        _common.table(
            ["wall s", "wall min", "CPU s", "peak RSS (largest process) GB", "peak RSS (tree, sampled) GB"],
            [[wall, wall / 60, cpu, peak_process / gb, peak_tree / gb]],
        )
    )
    print(f"load average at end: {_common.load_average()}")
    print(
        f"targets: wall <= 10 min -> {'met' if wall <= 600 else 'MISSED'}; "
        f"peak RSS <= 4 GB -> {'met' if max(peak_process, peak_tree) <= 4 * gb else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
