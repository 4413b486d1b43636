"""Two rounds of ``rlaif run`` with the policy on vLLM, and the proof that round 2 samples the round-1 checkpoint.

    RLAIF_VLLM_PYTHON=/path/to/venv/bin/python python benchmarks/vllm_rounds.py --out runs/vllm-rounds
    ... --lora --keep-loaded      # a LoRA round: the adapter loaded into the running server, base not reloaded

The run: ``models.policy: {spec: vllm:embedded, dtype: float32}``, critic and judge on ``llamacpp:embedded``
(they are the unchanged base model in every round), greedy answers, a DPO round with a learning rate high enough
to move greedy answers. Round 2's ``vllm:<round-1 checkpoint>`` is started by rlaif itself.

The proof: the same round-2 prompts answered greedily by transformers (float32) from (a) the round-1 checkpoint
and (b) the base model. Round 2's vLLM answers must agree with (a) -- not with (b). Agreement is counted as equal
answers and as the mean common-prefix share (vLLM's and torch's float32 kernels may round differently, which can
change a late token). Timings (generation and training per round, server start-ups) are under whatever load the
machine has; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import _common
import yaml

from rlaif.config import load_config
from rlaif.protocols import GenerationParams


def _config(out: Path, prompts: int, lora: bool, keep_loaded: bool, threads: int) -> dict[str, Any]:
    policy: dict[str, Any] = {"spec": "vllm:embedded", "dtype": "float32", "threads": threads}
    if keep_loaded:
        policy["keep_loaded"] = True
    options: dict[str, Any] = {
        "learning_rate": 2.0e-4 if lora else 5.0e-5,
        "max_steps": 6,
        "per_device_train_batch_size": 2,
        "max_length": 256,
        "beta": 0.1,
    }
    if lora:
        options["lora"] = {"r": 16, "alpha": 32}
    return {
        "constitution": "concise-direct",
        "output_dir": str(out),
        "rounds": 2,
        "max_prompts": prompts,
        "models": {"policy": policy, "critic": {"spec": "llamacpp:embedded", "threads": threads}},
        "generation": {"max_new_tokens": 48, "temperature": 0.0},
        "critique": {"max_new_tokens": 40, "temperature": 0.0},
        "revision": {"max_new_tokens": 48, "temperature": 0.0},
        "judge": {"name": "pairwise", "margin": 0.0},
        "pairs": {"prefer_shorter": True},
        "eval": {"enabled": False},
        "optimizer": {"name": "dpo", "options": options},
    }


def _prefix_share(a: str, b: str) -> float:
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return common / max(len(a), len(b), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run directory (a fresh one is made)")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per round (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for vLLM and llama.cpp")
    parser.add_argument(
        "--lora", action="store_true", help="train LoRA adapters (served through vLLM's LoRA)"
    )
    parser.add_argument("--keep-loaded", action="store_true", help="keep the vLLM server up across training")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    _common.header(f"2-round rlaif run, policy on vLLM (lora={args.lora}, keep_loaded={args.keep_loaded})")
    out = args.out.resolve()
    config_path = out.parent / f"{out.name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(
        yaml.safe_dump(_config(out, args.prompts, args.lora, args.keep_loaded, args.threads))
    )
    config = load_config(config_path)

    from rlaif.rounds import run

    started = time.perf_counter()
    result = run(config, overwrite=True, progress=False, echo=lambda text: print(f"  | {text}", flush=True))
    total = time.perf_counter() - started
    manifest = result.manifest
    rounds = manifest["rounds"]
    for entry in rounds:
        print(
            f"round {entry['round']}: policy {entry['policy']}\n"
            f"  timings {entry.get('timings')}, pairs {entry.get('counts', {}).get('pairs')}"
        )
    round2 = [
        json.loads(line) for line in (out / "round-2" / "records.jsonl").read_text().splitlines() if line
    ]
    checkpoint = str((out / rounds[0]["checkpoint"]).resolve())

    from rlaif.models.embedded import embedded_model_dir
    from rlaif.models.transformers import TransformersChatModel

    greedy = GenerationParams(max_new_tokens=48, temperature=0.0)
    prompts = [record["prompt"] for record in round2]
    served = [record["original"] for record in round2]
    figures: dict[str, Any] = {
        "total_s": round(total, 1),
        "prompts": len(prompts),
        "load": _common.load_average(),
    }
    for label, weights in (("round-1 checkpoint", checkpoint), ("base model", str(embedded_model_dir()))):
        model = TransformersChatModel(weights, name=label, dtype="float32", device="cpu")
        answers = model.generate(prompts, greedy)
        model.close() if hasattr(model, "close") else None
        equal = sum(a == b for a, b in zip(served, answers, strict=True))
        share = sum(_prefix_share(a, b) for a, b in zip(served, answers, strict=True)) / len(prompts)
        figures[label] = {"equal": equal, "prefix_share": round(share, 3)}
        print(
            f"round-2 vLLM answers vs transformers greedy on the {label}: {equal}/{len(prompts)} equal, "
            f"mean common prefix {share:.0%}"
        )
    figures["rounds"] = [
        {"round": e["round"], "policy": e["policy"], "timings": e.get("timings"), "counts": e.get("counts")}
        for e in rounds
    ]
    print(f"total {total:.0f} s; load average at end: {_common.load_average()}; pid {os.getpid()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
