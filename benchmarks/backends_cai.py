"""The CAI workload through each generation backend: transformers, llama.cpp and vLLM, in one run.

    python benchmarks/backends_cai.py                       # 16 default prompts, default budgets
    python benchmarks/backends_cai.py --quick               # 4 prompts, tiny generations
    RLAIF_VLLM_PYTHON=/path/to/venv/bin/python python benchmarks/backends_cai.py --vllm-threads 2

Every arm runs the engine exactly as ``rlaif run`` does (journal, judge, records) with policy, critic and judge on
one backend serving the embedded SmolLM2-135M-Instruct: ``transformers`` (float32 safetensors), ``llamacpp``
(the Q4_1 GGUF it ships as) and ``vllm`` (the same safetensors, a managed ``vllm serve``; bfloat16 on a CPU).
Start-up (load / server ready) is timed apart from the workload; the workload runs once per arm after a
one-prompt warm-up, because a server start on a CPU costs minutes. Tokens are counted with one tokenizer for all
arms. Arms whose backend is not installed are reported as skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import _cai_workload as cai
import _common

from rlaif.judges.pairwise import PairwiseJudge


def _arm(name: str, workload: cai.Workload, start: Any) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        served = start()
    except Exception as exc:  # an arm that cannot start is reported, the others still run
        return {"arm": name, "skipped": f"{type(exc).__name__}: {str(exc)[:300]}"}
    startup = time.perf_counter() - began
    try:
        arm = replace(workload, model=served, judge=PairwiseJudge(served))
        cai.run_engine(replace(arm, items=arm.items[:1]), tokenizer_of=workload.model)  # warm-up
        measured = _common.timed(lambda: cai.run_engine(arm, tokenizer_of=workload.model))
    finally:
        if served is not workload.model:
            served.close()
    out = measured.out
    return {
        "arm": name,
        "startup_s": round(startup, 1),
        "wall_s": round(measured.wall, 1),
        "prompts": out["records"],
        "pairs": out["pairs"],
        "new_tokens": out["tokens"],
        "pairs_per_min": round(out["pairs"] / measured.wall * 60, 2),
        "prompts_per_min": round(out["records"] / measured.wall * 60, 2),
        "tokens_per_s": round(out["tokens"] / measured.wall, 1),
        "load_after": _common.load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 prompts, tiny generations")
    parser.add_argument("--prompts", type=int, default=None, help="prompts (default 16; quick 4)")
    parser.add_argument("--arms", default="transformers,llamacpp,vllm", help="comma-separated arms to run")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for every backend")
    parser.add_argument("--vllm-dtype", default="auto", help="vLLM dtype (auto: bfloat16 on a CPU)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    prompts = args.prompts or (4 if args.quick else 16)
    workload = cai.build(prompts, args.quick)
    _common.header(f"CAI workload per backend ({prompts} prompts, quick={args.quick})")

    def transformers() -> Any:
        return workload.model

    def llamacpp() -> Any:
        from rlaif.models.llamacpp import LlamaCppChatModel

        return LlamaCppChatModel("embedded", threads=args.threads)

    def vllm() -> Any:
        from rlaif.models.vllm_server import VLLMChatModel

        return VLLMChatModel("embedded", threads=args.threads, dtype=args.vllm_dtype)

    starts = {"transformers": transformers, "llamacpp": llamacpp, "vllm": vllm}
    rows = []
    for name in args.arms.split(","):
        print(f"  {name} ...", flush=True)
        rows.append(_arm(name, workload, starts[name]))
        print(f"  {json.dumps(rows[-1])}", flush=True)
    done = [row for row in rows if "skipped" not in row]
    print(
        _common.table(
            ["arm", "start-up s", "wall s", "prompts", "pairs", "new tokens", "pairs/min", "tokens/s"],
            [
                [r["arm"], r["startup_s"], r["wall_s"], r["prompts"], r["pairs"], r["new_tokens"]]
                + [r["pairs_per_min"], r["tokens_per_s"]]
                for r in done
            ],
        )
    )
    for row in rows:
        if "skipped" in row:
            print(f"{row['arm']}: skipped ({row['skipped']})")
    print(f"load average at end: {_common.load_average()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
