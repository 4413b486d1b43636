"""DPO and GRPO under a real 2-process `accelerate launch` (DDP over gloo on CPU): both ranks train one model,
only rank 0 writes the outputs and reports.

On a CPU-only machine accelerate 1.x's ``--cpu`` flag starts a single process unless MPI is installed, so the
test launches through ``--multi_gpu`` (torchrun workers); rlaif's trainers then see no CUDA, ask for a CPU
accelerator, and accelerate picks MULTI_CPU with the gloo backend.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_policy import make_tiny_policy

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(*args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), "-m", "rlaif", *args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("launch")
    policy = make_tiny_policy(folder / "policy")
    pairs, prompts = folder / "pairs.jsonl", folder / "prompts.jsonl"
    pairs.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": [{"role": "user", "content": f"Question {i}?"}],
                    "chosen": [{"role": "assistant", "content": "Yes."}],
                    "rejected": [{"role": "assistant", "content": "No, never, not at all."}],
                }
            )
            + "\n"
            for i in range(8)
        )
    )
    prompts.write_text("".join(json.dumps({"prompt": f"Say {i}."}) + "\n" for i in range(8)))
    return policy, pairs, prompts


def check_two_process_run(completed, output: Path):
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("Checkpoint:") == 1  # only rank 0 reports
    metrics = json.loads((output / "metrics.json").read_text())["metrics"]
    assert metrics["num_processes"] == 2  # one DDP job, not two independent runs
    assert metrics["global_step"] == 1
    assert (output / "checkpoint" / "model.safetensors").exists()
    assert not list(output.glob("checkpoint/*.tmp*"))


@pytest.mark.slow
def test_dpo_under_accelerate_launch_two_processes(inputs, tmp_path):
    policy, pairs, _ = inputs
    output = tmp_path / "dpo"
    completed = launch(
        "train", str(pairs), "--policy", str(policy), "-o", str(output),
        "--option", "max_steps=1", "--option", "per_device_train_batch_size=2",
        "--option", "gradient_accumulation_steps=1",
    )  # fmt: skip
    check_two_process_run(completed, output)


@pytest.mark.slow
def test_grpo_under_accelerate_launch_two_processes(inputs, tmp_path):
    policy, _, prompts = inputs
    output = tmp_path / "grpo"
    completed = launch(
        "train", str(prompts), "--optimizer", "grpo", "--policy", str(policy), "-o", str(output),
        "--option", "max_steps=1", "--option", "per_device_train_batch_size=2", "--option", "num_generations=2",
        "--option", "max_completion_length=4", "--option", "rewards=[{name: length, options: {max: 3}}]",
    )  # fmt: skip
    check_two_process_run(completed, output)
