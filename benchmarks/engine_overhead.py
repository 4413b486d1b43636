"""CAI engine vs the raw batched backend making the same calls: what the engine's bookkeeping costs.

    python benchmarks/engine_overhead.py            # 16 default prompts, default token budgets, 3 runs per arm
    python benchmarks/engine_overhead.py --quick    # 4 prompts, tiny generations

The raw arm calls ``generate`` three times and ``label_logprobs`` once per chunk, exactly the batched calls the
engine makes, with none of its records, journal fsyncs, meters or progress. Target: engine / raw >= 0.9.
"""

from __future__ import annotations

import argparse

import _cai_workload as cai
import _common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 prompts, tiny generations")
    parser.add_argument("--prompts", type=int, default=None, help="prompts per arm (default 16; quick 4)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per arm, interleaved (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    prompts = args.prompts or (4 if args.quick else 16)
    workload = cai.build(prompts, args.quick)
    _common.header(f"CAI engine vs raw batched backend ({prompts} prompts, quick={args.quick})")
    cai.warm_up(workload)
    results = _common.interleaved(
        {"engine": lambda: cai.run_engine(workload), "raw": lambda: cai.run_raw(workload)},
        args.repeats or 3,
    )
    rows, median, cpu = [], {}, {}
    for arm, runs in results.items():
        median[arm] = _common.median([m.wall for m in runs])
        cpu[arm] = _common.median([m.cpu for m in runs])
        out = runs[0].out
        rows.append(
            [
                arm,
                len(runs),
                median[arm],
                cpu[arm],
                out["records"],
                out["pairs"],
                out["tokens"],
                out["records"] / median[arm] * 60,
            ]
        )
    print(
        _common.table(
            ["arm", "runs", "median wall s", "median CPU s", "prompts", "pairs", "new tokens", "prompts/min"],
            rows,
        )
    )
    print(f"load average at end: {_common.load_average()}")
    print(
        f"engine throughput / raw backend throughput: {median['raw'] / median['engine']:.3f} wall, "
        f"{cpu['raw'] / cpu['engine']:.3f} CPU time  (target >= 0.9)"
    )


if __name__ == "__main__":
    main()
