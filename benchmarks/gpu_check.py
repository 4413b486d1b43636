"""One command for a CUDA machine: what rlaif's generation and training do on its GPU, in under 5 minutes.

    python benchmarks/gpu_check.py                  # everything: CAI generation (transformers, vLLM), DPO, GRPO
    python benchmarks/gpu_check.py --skip vllm      # without the vLLM arm (vllm not installed)
    python benchmarks/gpu_check.py --json out.json  # also write the figures as JSON

On the embedded SmolLM2-135M-Instruct, in bfloat16 (rlaif's choice on GPUs that support it):

1. a CAI generation batch (the default run's 16 prompts: answer, critique, revision, judge both orders) through
   the transformers backend and through the vLLM backend (a managed ``vllm serve``): tokens/s, pairs/min;
2. DPO on the pairs that batch made, a few optimizer steps: s/step;
3. GRPO on the same prompts (a length reward), a few steps: s/step.

For each phase it prints wall time, peak GPU memory (torch's allocator for in-process phases; the device's used
memory for the vLLM server, another process) and an MFU estimate: achieved model FLOPs (2 N per generated
token, 6 N per trained token, N = parameters) over the GPU's dense bf16 peak from a small table (``--peak-tflops``
overrides it; "n/a" for a GPU not in it). A 135M model cannot fill a large GPU, so low MFU here is expected: the
check proves the paths run on CUDA and gives comparable numbers, it is not a tuning exercise.

Without CUDA it says "no CUDA" and exits 0 after printing what it found, so it is safe to run anywhere.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common

PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "GH200": 989.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 125.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
    "B200": 2250.0,
}
"""Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, in TFLOP/s."""


def peak_tflops(name: str) -> float | None:
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):  # "L40S" before "L40" before "L4"
        if key in name:
            return PEAK_BF16_TFLOPS[key]
    return None


def device_used_gib() -> float | None:
    """Memory in use on GPU 0 as the driver sees it (covers other processes, e.g. a vLLM server)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return round(float(out.strip().splitlines()[0]) / 1024, 2)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def mfu(flops: float, seconds: float, peak: float | None) -> float | None:
    return None if not peak or seconds <= 0 else round(flops / seconds / (peak * 1e12), 5)


class Phase:
    """Times one phase and records torch's peak GPU memory over it."""

    def __init__(self, name: str, results: list[dict[str, Any]]):
        self.name, self.results, self.row = name, results, {"phase": name}

    def __enter__(self) -> dict[str, Any]:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self.started = time.perf_counter()
        return self.row

    def __exit__(self, kind: Any, error: Any, _tb: Any) -> bool:
        import torch

        torch.cuda.synchronize()
        self.row["wall_s"] = round(time.perf_counter() - self.started, 2)
        self.row.setdefault("peak_gpu_gib", round(torch.cuda.max_memory_allocated() / 2**30, 2))
        if error is not None:
            self.row["error"] = f"{type(error).__name__}: {str(error)[:300]}"
        self.results.append(self.row)
        print(f"  {json.dumps(self.row)}", flush=True)
        return True  # one failed phase must not hide the others' figures


def _generation(workload: Any, row: dict[str, Any], params: int, peak: float | None) -> list[dict[str, Any]]:
    import _cai_workload as cai

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        from rlaif.engine import Journal, run_cai

        journal = Journal(Path(folder) / "records.jsonl")
        result = run_cai(
            workload.items,
            workload.constitution,
            workload.model,
            workload.model,
            workload.judge,
            workload.settings,
            journal,
            progress=False,
        )
        records = Journal(Path(folder) / "records.jsonl").records
    seconds = time.perf_counter() - started
    texts = [r[k] for r in records for k in ("original", "critique", "revision")]
    tokens = cai._count_tokens(workload.tokenizer_model, texts)
    row.update(
        prompts=len(records),
        pairs=result.pairs,
        new_tokens=tokens,
        tokens_per_s=round(tokens / seconds, 1),
        pairs_per_min=round(result.pairs / seconds * 60, 1),
        mfu_decode=mfu(2 * params * tokens, seconds, peak),
    )
    return records


def _train(name: str, options: dict[str, Any], request_args: dict[str, Any], row: dict, params: int, peak):
    from rlaif.plugins import load_registry
    from rlaif.protocols import TrainRequest

    optimizer = load_registry(()).get("optimizers", name).factory(options)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = optimizer.train(TrainRequest(output_dir=Path(folder), resume=False, **request_args))
        seconds = time.perf_counter() - started
    steps = int(result.metrics.get("global_step") or options["max_steps"])
    tokens = int(max((entry.get("num_tokens", 0) or 0 for entry in result.log_history), default=0))
    row.update(steps=steps, s_per_step=round(seconds / max(steps, 1), 3), trained_tokens=tokens or None)
    row["mfu_train"] = mfu(6 * params * tokens, seconds, peak) if tokens else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16, help="CAI prompts (default 16)")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps for DPO and GRPO (default 8)")
    parser.add_argument(
        "--skip", default="", help="comma-separated phases to skip: transformers,vllm,dpo,grpo"
    )
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, TFLOP/s")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    import torch

    _common.header("GPU check (embedded model, bf16)")
    if not torch.cuda.is_available():
        print(f"no CUDA: torch {torch.__version__} sees no CUDA device; nothing to measure on this machine.")
        print("Run this on a CUDA machine (pip install 'rlaif[vllm]' for the vLLM arm).")
        return 0
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    gpu = torch.cuda.get_device_name(0)
    peak = args.peak_tflops or peak_tflops(gpu)
    print(
        f"GPU: {gpu}, bf16 peak {peak or 'unknown'} TFLOP/s, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"
    )

    import _cai_workload as cai

    from rlaif.judges.pairwise import PairwiseJudge
    from rlaif.models.embedded import embedded_model_dir
    from rlaif.optimizers.online import prompts_dataset
    from rlaif.records import pairs_dataset

    began = time.perf_counter()
    workload = cai.build(args.prompts, quick=False)  # device auto: CUDA, bf16
    workload.tokenizer_model = workload.model  # type: ignore[attr-defined]
    params = sum(p.numel() for p in workload.model.model.parameters())
    print(f"model: {params / 1e6:.0f}M parameters, dtype {next(workload.model.model.parameters()).dtype}")
    results: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    if "transformers" not in skip:
        cai.warm_up(workload)
        with Phase("cai-transformers", results) as row:
            records = _generation(workload, row, params, peak)
    if "vllm" not in skip:
        from rlaif.models.vllm_server import VLLMChatModel

        with Phase("cai-vllm", results) as row:
            started = time.perf_counter()
            served = VLLMChatModel("embedded", dtype="bfloat16", gpu_memory_utilization=0.5)
            row["startup_s"] = round(time.perf_counter() - started, 1)
            try:
                arm = cai.Workload(
                    served, PairwiseJudge(served), workload.constitution, workload.items, workload.settings
                )
                arm.tokenizer_model = workload.model  # type: ignore[attr-defined]
                vllm_records = _generation(arm, row, params, peak)
                records = records or vllm_records
                row["peak_gpu_gib"] = device_used_gib()  # the server is another process
            finally:
                served.close()
    items = workload.items
    del workload
    torch.cuda.empty_cache()
    weights = str(embedded_model_dir())
    pairs = pairs_dataset(records) if records else None
    if "dpo" not in skip:
        with Phase("dpo", results) as row:
            if pairs is None or len(pairs) == 0:
                raise RuntimeError("no pairs from the generation phase to train on")
            options = {"max_steps": args.steps, "per_device_train_batch_size": 4, "save_steps": 10_000}
            _train("dpo", options, {"policy": weights, "pairs": pairs}, row, params, peak)
    if "grpo" not in skip:
        with Phase("grpo", results) as row:
            options = {
                "max_steps": args.steps,
                "per_device_train_batch_size": 8,
                "num_generations": 4,
                "save_steps": 10_000,
            }

            def shorter(prompts: Any, completions: Any, **_columns: Any) -> list[float]:
                return [-float(len(str(completion))) for completion in completions]

            request = {"policy": weights, "prompts": prompts_dataset(items), "rewards": [shorter]}
            _train("grpo", options, request, row, params, peak)
    keys = ["phase", "wall_s", "startup_s", "tokens_per_s", "pairs_per_min", "s_per_step", "peak_gpu_gib"]
    print(
        _common.table(
            keys + ["MFU"],
            [
                [row.get(key, "") for key in keys] + [row.get("mfu_decode") or row.get("mfu_train") or "n/a"]
                for row in results
            ],
        )
    )
    failed = [row for row in results if "error" in row]
    print(f"total {time.perf_counter() - began:.0f} s; {len(failed)} phase(s) failed")
    if args.json:
        args.json.write_text(
            json.dumps({"gpu": gpu, "peak_tflops": peak, "phases": results}, indent=1) + "\n"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
