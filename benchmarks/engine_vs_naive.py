"""CAI engine vs a naive one-prompt-at-a-time loop: pairs per minute on the embedded model.

    python benchmarks/engine_vs_naive.py            # 16 default prompts, default token budgets
    python benchmarks/engine_vs_naive.py --quick    # 4 prompts, tiny generations (seconds)

Both arms make the same calls on the same loaded model with the same seeds (see _cai_workload.py), so they
generate the same tokens; the "tokens" column shows it. Target: speed-up >= 4x.

``--llamacpp`` adds a third arm: the same engine with every role served from the embedded GGUF by llama.cpp
in-process (``llamacpp:embedded``, ``--llama-threads`` threads, 8 slots). It samples different tokens (different
kernels, 4-bit weights), so compare prompts/min with the token counts in view. ``--no-cache-arm`` adds the
engine with the transformers backend's prefix cache turned off, to show what reusing prompt prefixes is worth.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import _cai_workload as cai
import _common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 prompts, tiny generations")
    parser.add_argument("--prompts", type=int, default=None, help="prompts per arm (default 16; quick 4)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per arm, interleaved (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="engine chunk and batch size (default 32, the run default)",
    )
    parser.add_argument("--llamacpp", action="store_true", help="add the llamacpp:embedded engine arm")
    parser.add_argument("--llama-threads", type=int, default=None, help="llama.cpp threads (default: cores)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="one token budget for all stages")
    parser.add_argument(
        "--no-cache-arm",
        action="store_true",
        help="add the engine with the backend's prefix cache off (what the cache is worth, same run)",
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    prompts = args.prompts or (4 if args.quick else 16)
    workload = cai.build(
        prompts,
        args.quick,
        batch_size=args.chunk_size or 32,
        chunk_size=args.chunk_size,
        max_new_tokens=args.max_new_tokens,
    )
    _common.header(
        f"CAI engine vs naive loop ({prompts} prompts, quick={args.quick}, max_new_tokens={args.max_new_tokens})"
    )
    cai.warm_up(workload)
    arms = {"engine": lambda: cai.run_engine(workload), "naive": lambda: cai.run_naive(workload)}
    if args.no_cache_arm:
        arms["engine-no-prefix-cache"] = lambda: cai.run_engine_without_prefix_cache(workload)
    if args.llamacpp:
        from rlaif.models.llamacpp import LlamaCppChatModel

        served = LlamaCppChatModel("embedded", threads=args.llama_threads)
        cai.run_engine_llamacpp(replace(workload, items=workload.items[:1]), served)  # warm-up
        arms["engine-llamacpp"] = lambda: cai.run_engine_llamacpp(workload, served)
    results = _common.interleaved(arms, args.repeats or 1)
    rows, speed, cpu = [], {}, {}
    for arm, runs in results.items():
        seconds = _common.median([m.wall for m in runs])
        cpu[arm] = _common.median([m.cpu for m in runs])
        out = runs[0].out
        speed[arm] = out["records"] / seconds * 60
        rows.append(
            [
                arm,
                len(runs),
                seconds,
                cpu[arm],
                out["records"],
                out["pairs"],
                out["tokens"],
                speed[arm],
                out["pairs"] / seconds * 60,
            ]
        )
    print(
        _common.table(
            [
                "arm",
                "runs",
                "median wall s",
                "median CPU s",
                "prompts",
                "pairs",
                "new tokens",
                "prompts/min",
                "pairs/min",
            ],
            rows,
        )
    )
    print(f"load average at end: {_common.load_average()}")
    if "engine-no-prefix-cache" in speed:
        print(
            "speed-up engine-no-prefix-cache / naive (prompts per minute): "
            f"{speed['engine-no-prefix-cache'] / speed['naive']:.2f}x; "
            f"prefix cache: {speed['engine'] / speed['engine-no-prefix-cache']:.2f}x"
        )
    if "engine-llamacpp" in speed:
        print(
            f"speed-up engine-llamacpp / naive (prompts per minute): {speed['engine-llamacpp'] / speed['naive']:.2f}x"
        )
    print(
        f"speed-up engine / naive (prompts per minute, same work): {speed['engine'] / speed['naive']:.2f}x"
        f" wall, {cpu['naive'] / cpu['engine']:.2f}x CPU time  (target >= 4x)"
    )


if __name__ == "__main__":
    main()
