"""End to end, measured by a rule no judge can flatter: `rlaif run examples/cai-recipe.yaml` over several seeds.

    python benchmarks/cai_end_to_end.py --work runs/e2e    # 5 seeds, 8 training prompts each (the README figure)
    python benchmarks/cai_end_to_end.py --jobs 3 --threads 1 --work runs/e2e   # 3 seeds at once, one thread each
    python benchmarks/cai_end_to_end.py --quick            # 1 seed, 2 prompts, tiny generations (checks the script)

Each seed is the shipped CAI recipe run exactly as a user runs it (``rlaif run CONFIG -n N``: answer ->
critique -> revision twice, the judge's pairs, SFT on the revisions, DPO from the SFT model, eval on held-out
prompts); only ``seed`` differs between runs. The config's constitution (examples/constitutions/cai.yaml) puts
a verifiable reward on its brevity principle (``length``: at most 20 words, soft), so the run's own eval scores
the held-out prompts -- never trained on: ``eval.holdout`` picks them by a hash of their ids -- with that reward
before (the base model) and after (the trained model). The benchmark reads each run's ``round-1/eval.json`` and
reports, per seed and as a mean over seeds with a 95% Student-t interval:

- the judge's win rate against the base model (what the 135M judge says), and
- the reward's change on the held-out prompts, its pass rate and the mean words (what is verifiably true).

Results go to ``benchmarks/results/cai_end_to_end.json`` after every seed (a killed benchmark keeps the seeds
it finished; with ``--work`` the run directories are kept: a re-run resumes an unfinished one and re-reads finished seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import _common
import yaml

from rlaif.eval.stats import interval_text, mean_interval, paired_change
from rlaif.files import atomic_write_json

CONFIG = _common.REPO / "examples" / "cai-recipe.yaml"
RESULTS = _common.REPO / "benchmarks" / "results" / "cai_end_to_end.json"
QUICK = {
    "generation": {"max_new_tokens": 12, "temperature": 1.0},
    "critique": {"max_new_tokens": 8, "temperature": 0.0},
    "revision": {"max_new_tokens": 12, "temperature": 0.0},
    "eval": {"holdout": 8, "max_prompts": 2},
}


def seed_config(source: Path, seed: int, folder: Path, quick: bool) -> Path:
    """The shipped config with only ``seed`` changed (and its relative paths made absolute for the copy)."""
    config = yaml.safe_load(source.read_text())
    config["seed"] = seed
    for key in ("constitution", "prompts"):
        candidate = source.parent / str(config[key])
        if candidate.exists():
            config[key] = str(candidate.resolve())
    if quick:
        config.update(QUICK)
        for stage in config["optimizer"]:
            stage["options"]["max_steps"] = 1
    path = folder / f"seed-{seed}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_seed(config: Path, run_dir: Path, prompts: int, threads: int | None) -> dict[str, Any]:
    command = [sys.executable, "-c", "from rlaif.cli import main; main()", "run", str(config)]
    command += ["-n", str(prompts), "-o", str(run_dir), "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_common.REPO), os.environ.get("PYTHONPATH", "")])}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"rlaif run failed for {config.name} with exit code {done.returncode}")
    print(done.stdout.strip(), file=sys.stderr)
    return {"wall_s": round(wall, 1), "summary": done.stdout.strip()}


def read_seed(run_dir: Path) -> dict[str, Any]:
    """One seed's figures from its run directory: the eval summary and per-prompt rewards."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    entry = manifest["rounds"][0]
    counts = entry.get("counts") or {}
    if not entry.get(
        "eval"
    ):  # nothing trained (every pair dropped): the model is the base, nothing to measure
        return {
            "trained": False,
            "why": entry.get("train_skipped"),
            "pairs": counts.get("pairs"),
            "drops": counts.get("drops"),
        }
    summary = json.loads((run_dir / entry["eval"]).read_text())
    records = [
        json.loads(line) for line in (run_dir / entry["eval_records"]).read_text().splitlines() if line
    ]
    per_prompt = list({record["id"]: record for record in records}.values())
    rewards = {}
    for name in summary["rewards"]:
        before = [r["rewards"][name]["baseline"] for r in per_prompt]
        after = [r["rewards"][name]["model"] for r in per_prompt]
        passed_before = [r["reward_passed"][name]["baseline"] for r in per_prompt]
        passed_after = [r["reward_passed"][name]["model"] for r in per_prompt]
        rewards[name] = {
            "before": mean_interval([v for v in before if v is not None]),
            "after": mean_interval([v for v in after if v is not None]),
            "change": paired_change(before, after),
            "pass_before": _share(passed_before),
            "pass_after": _share(passed_after),
            "per_prompt": {
                r["id"]: a - b
                for r, b, a in zip(per_prompt, before, after, strict=True)
                if None not in (a, b)
            },
        }
    words_before = [len(r["baseline_response"].split()) for r in per_prompt]
    words_after = [len(r["model_response"].split()) for r in per_prompt]
    stages = {
        stage["name"]: (stage.get("timings") or {}).get("train_s") or stage.get("skipped")
        for stage in entry.get("stages") or []
    }
    return {
        "trained": True,
        "held_out_prompts": [r["id"] for r in per_prompt],
        "pairs": (entry.get("counts") or {}).get("pairs"),
        "drops": (entry.get("counts") or {}).get("drops"),
        "stages": stages,
        "timings": entry.get("timings"),
        "win_rate": summary["win_rate"],
        "wins": summary["wins"],
        "ties": summary["ties"],
        "losses": summary["losses"],
        "kl": summary["kl"]["estimate"],
        "words_before": sum(words_before) / len(words_before),
        "words_after": sum(words_after) / len(words_after),
        "words_change": paired_change(words_before, words_after),
        "rewards": rewards,
    }


def _share(flags: list[Any]) -> float | None:
    counted = [bool(flag) for flag in flags if flag is not None]
    return sum(counted) / len(counted) if counted else None


def bounded(figure: dict[str, Any], low: float | None = 0.0, high: float | None = None) -> dict[str, Any]:
    """A t interval cut to the quantity's range (a pass rate is never above 1, a KL never below 0): with 3-5
    seeds the symmetric interval can reach past it, which says nothing more than the bound itself."""
    if figure.get("ci95"):
        a, b = figure["ci95"]
        figure["ci95"] = [a if low is None else max(low, a), b if high is None else min(high, b)]
    return figure


def aggregate(everything: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the trained seeds with 95% t intervals (the seed is the unit: prompts repeat across seeds)."""
    seeds = [seed for seed in everything if seed.get("trained")]
    names = sorted({name for seed in seeds for name in seed["rewards"]})
    out: dict[str, Any] = {
        "seeds": len(seeds),
        "untrained_seeds": len(everything) - len(seeds),
        "win_rate": bounded(mean_interval([s["win_rate"] for s in seeds if s["win_rate"] is not None]), 0, 1),
        "kl": bounded(mean_interval([s["kl"] for s in seeds if s["kl"] is not None])),
        "words_before": bounded(mean_interval([s["words_before"] for s in seeds])),
        "words_after": bounded(mean_interval([s["words_after"] for s in seeds])),
        "words_change": mean_interval([s["words_change"]["mean"] for s in seeds]),
        "rewards": {},
    }
    for name in names:
        rows = [s["rewards"][name] for s in seeds if name in s["rewards"]]
        change = mean_interval([r["change"]["mean"] for r in rows if r["change"]["mean"] is not None])
        ci = change["ci95"]
        change.update(above_zero=bool(ci and ci[0] > 0), below_zero=bool(ci and ci[1] < 0))
        by_prompt: dict[str, list[float]] = {}
        for row in rows:
            for prompt_id, difference in (row.get("per_prompt") or {}).items():
                by_prompt.setdefault(prompt_id, []).append(difference)
        over_prompts = mean_interval([sum(d) / len(d) for d in by_prompt.values()])
        ci = over_prompts["ci95"]
        over_prompts.update(above_zero=bool(ci and ci[0] > 0), below_zero=bool(ci and ci[1] < 0))
        out["rewards"][name] = {  # the shipped rewards score in [0, 1]
            "change_over_prompts": over_prompts,
            "before": bounded(
                mean_interval([r["before"]["mean"] for r in rows if r["before"]["mean"] is not None]), 0, 1
            ),
            "after": bounded(
                mean_interval([r["after"]["mean"] for r in rows if r["after"]["mean"] is not None]), 0, 1
            ),
            "change": change,
            "pass_before": bounded(
                mean_interval([r["pass_before"] for r in rows if r["pass_before"] is not None]), 0, 1
            ),
            "pass_after": bounded(
                mean_interval([r["pass_after"] for r in rows if r["pass_after"] is not None]), 0, 1
            ),
        }
    return out


def report(result: dict[str, Any]) -> str:
    lines = []
    rows = []
    for seed, figures in result["per_seed"].items():
        if not figures.get("trained"):
            lines.append(f"seed {seed}: not trained ({figures.get('why')}); excluded from the means")
            continue
        for name, reward in figures["rewards"].items():
            rows.append(
                [
                    seed,
                    f"{figures['win_rate']:.2f} ({figures['wins']}W {figures['ties']}T {figures['losses']}L)",
                    name.split(" ")[0],
                    f"{reward['before']['mean']:.3f} -> {reward['after']['mean']:.3f}",
                    interval_text(reward["change"], 3, signed=True),
                    f"{reward['pass_before']:.2f} -> {reward['pass_after']:.2f}",
                    f"{figures['words_before']:.1f} -> {figures['words_after']:.1f}",
                    figures["kl"],
                    figures["pairs"],
                    figures["wall_s"],
                ]
            )
    lines.append(
        _common.table(
            [
                "seed",
                "judge win rate",
                "reward",
                "held-out reward",
                "change [95% CI, prompts]",
                "pass rate",
                "words",
                "KL",
                "pairs",
                "wall s",
            ],
            rows,
        )
    )
    agg = result["aggregate"]
    lines.append(f"\nover {agg['seeds']} trained seeds (mean [95% t interval over seeds]):")
    lines.append(f"  judge win rate vs base: {interval_text(agg['win_rate'])}")
    for name, reward in agg["rewards"].items():
        verdict = (
            "above zero"
            if reward["change"]["above_zero"]
            else "below zero"
            if reward["change"]["below_zero"]
            else "NOT distinguishable from zero"
        )
        prompts = reward["change_over_prompts"]
        lines.append(
            f"  {name}: change per held-out prompt, averaged over seeds: "
            f"{interval_text(prompts, 3, signed=True)} (95% t over {prompts['n']} prompts)"
        )
        lines.append(
            f"  {name}: held-out reward {interval_text(reward['before'], 3)} -> {interval_text(reward['after'], 3)}; "
            f"change {interval_text(reward['change'], 3, signed=True)} ({verdict} at 95%); pass rate "
            f"{interval_text(reward['pass_before'])} -> {interval_text(reward['pass_after'])}"
        )
    lines.append(
        f"  mean words {interval_text(agg['words_before'], 1)} -> {interval_text(agg['words_after'], 1)}; "
        f"KL to base {interval_text(agg['kl'])}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds (0, 1, ...)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--prompts", "-n", type=int, default=8, help="training prompts (`rlaif run -n`)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the example run config")
    parser.add_argument("--work", type=Path, default=None, help="run directories here (kept; resumable)")
    parser.add_argument("--out", type=Path, default=None, help=f"default {RESULTS.name} (--quick: not saved)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for each run")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (use with --threads 1)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 prompts, tiny generations")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.prompts = 1, 2
    _common.header(f"CAI end to end: {args.config.name}, {args.seeds} seed(s), -n {args.prompts}")
    started = time.perf_counter()
    out = args.out or (None if args.quick else RESULTS)
    previous = json.loads(out.read_text()) if out and out.exists() and args.work else {}
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        result: dict[str, Any] = {
            "command": " ".join(sys.argv),
            "config": str(
                args.config.relative_to(_common.REPO) if args.config.is_absolute() else args.config
            ),
            "train_prompts": args.prompts,
            "quick": args.quick,
            "machine": _common.machine(),
            "load_start": _common.load_average(),
            "per_seed": {},
        }
        todo = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if str(seed) in previous.get("per_seed", {}) and previous.get("quick") == args.quick:
                kept = previous["per_seed"][str(seed)]  # its figures re-read from the run directory, if kept
                fresh = (
                    read_seed(work / f"seed-{seed}")
                    if (work / f"seed-{seed}" / "manifest.json").exists()
                    else {}
                )
                result["per_seed"][str(seed)] = {**kept, **fresh}
                print(f"seed {seed}: finished earlier, kept", file=sys.stderr)
            else:
                todo.append(seed)

        def one(seed: int) -> tuple[int, dict[str, Any]]:
            print(f"seed {seed}: running (load {_common.load_average()}) ...", file=sys.stderr, flush=True)
            run_dir = work / f"seed-{seed}"
            config = seed_config(args.config, seed, work, args.quick)
            timing = run_seed(config, run_dir, args.prompts, args.threads)
            return seed, {**read_seed(run_dir), "wall_s": timing["wall_s"]}

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each seed is its own `rlaif run` process
            for future in as_completed([pool.submit(one, seed) for seed in todo]):
                seed, figures = future.result()
                result["per_seed"][str(seed)] = figures
                result["aggregate"] = aggregate(list(result["per_seed"].values()))
                result["load_end"] = _common.load_average()
                if out:
                    atomic_write_json(out, result)
        result["runs"] = list(
            previous.get("runs") or []
        )  # every invocation that ran seeds, with its wall time
        if todo:
            result["runs"].append(
                {
                    "command": result["command"],
                    "seeds": todo,
                    "wall_s": round(time.perf_counter() - started, 1),
                    "load_start": result["load_start"],
                    "load_end": _common.load_average(),
                }
            )
        result["per_seed"] = dict(sorted(result["per_seed"].items(), key=lambda item: int(item[0])))
        result["aggregate"] = aggregate(list(result["per_seed"].values()))
        result["wall_s"] = round(time.perf_counter() - started, 1)
        result["load_end"] = _common.load_average()
        if out:
            atomic_write_json(out, result)
    print(report(result))
    print(f"wall {result['wall_s']:.0f} s; load average at end: {result['load_end']}")


if __name__ == "__main__":
    main()
