"""``rlaif init``: a starter project a user copies and edits (config, constitution, prompts)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rlaif.errors import RlaifError
from rlaif.paths import shipped_dir

STARTER_CONFIG = """\
# rlaif run config. Every key is optional; the values shown are the defaults unless noted.
# Check it with `rlaif config check rlaif.yaml`, run it with `rlaif run rlaif.yaml`.

constitution: constitution.yaml   # a path (relative to this file) or a shipped name: helpful-harmless,
                                  # concise-direct, customer-support
prompts: prompts.jsonl            # JSONL: {"prompt": "..."} or {"prompt": [{"role": "user", "content": "..."}]}
output_dir: runs/my-run           # re-running on the same directory resumes
seed: 0
rounds: 1                         # >1: each round's trained policy generates the next round's data

models:
  policy: embedded                # embedded | path/to/hf-model | openai:<model> (served)
  critic: null                    # null = same as policy
  judge: null                     # null = same as critic

generation: {max_new_tokens: 96, temperature: 0.7, top_p: 0.95}   # the policy's answers
critique: {max_new_tokens: 64, temperature: 0.0}
revision: {max_new_tokens: 96, temperature: 0.0}

judge:
  name: pairwise                  # `rlaif plugins` lists the judges
  margin: 0.02                    # |p - 0.5| below this is a tie: the prompt is dropped, with its reason

optimizer:
  name: dpo
  options:
    beta: 0.1
    learning_rate: 5.0e-6
    num_train_epochs: 1
    per_device_train_batch_size: 4
    lora: null                    # e.g. {r: 16, alpha: 32} for LoRA instead of a full fine-tune
"""


def write_starter(directory: Path, force: bool = False) -> list[Path]:
    targets = {
        directory / "rlaif.yaml": STARTER_CONFIG,
        directory / "constitution.yaml": (shipped_dir("constitutions") / "helpful-harmless.yaml").read_text(
            encoding="utf-8"
        ),
        directory / "prompts.jsonl": None,
    }
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        raise RlaifError(f"{existing[0]}: already exists; use --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        if text is None:
            shutil.copyfile(shipped_dir("examples") / "prompts" / "default.jsonl", path)
        else:
            path.write_text(text, encoding="utf-8")
    return list(targets)
