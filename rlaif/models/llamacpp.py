"""A GGUF model served by llama.cpp inside this process: ``llamacpp:embedded`` or ``llamacpp:/path/model.gguf``.

Why: on a CPU, llama.cpp's quantized kernels and continuous batching generate several times faster than
transformers' ``generate`` for the same small model. Where a role is played by an *unchanged* base model (the
critic and judge in every round, the policy in round 1), serving it from its GGUF is the cheap way to make data.

How: :class:`LlamaCppServer` starts llama.cpp's own HTTP server (the ``llama-server`` code, embedded by the
``xllamacpp`` wheel) on 127.0.0.1 and a free port, and :class:`LlamaCppChatModel` talks to it through the
``openai`` backend -- the same code path as any remote vLLM/SGLang/llama.cpp server, retries and log-probs
included. Nothing is hand-rolled: batching across requests is the server's (``parallel`` slots sharing one
unified KV cache), and a batch of conversations goes out as that many concurrent requests.

Trained checkpoints are safetensors, not GGUF, so a trained policy keeps using the transformers backend.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.models.openai_compat import OpenAIChatModel
from rlaif.options import UNSET, option

DEFAULT_PARALLEL = 8
DEFAULT_CONTEXT = 8192


@dataclass(kw_only=True)
class LlamaCppOptions:
    """Options of the llamacpp backend."""

    parallel: int = option(DEFAULT_PARALLEL, "server slots = requests decoded together", minimum=1)
    n_ctx: int = option(DEFAULT_CONTEXT, "KV-cache tokens shared by all slots", minimum=256)
    threads: int | None = option(UNSET, "CPU threads for llama.cpp (default: one per core)", minimum=1)
    timeout: float = option(
        600.0, "seconds per request try (a full queue on a slow CPU is not a failure)", exclusiveMinimum=0
    )
    max_retries: int = option(2, "retries per request", minimum=0)


INSTALL_HINT = "Install it with: pip install xllamacpp (prebuilt CPU wheels; no compiler needed)"


def resolve_gguf(spec: str) -> Path:
    """``embedded`` (or empty) -> the embedded model's GGUF; else a path to a ``.gguf`` file."""
    if spec in ("", "embedded"):
        from rlaif.models.embedded import gguf_path

        return gguf_path()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise RlaifError(
            f"llamacpp model '{spec}': no such GGUF file",
            hint="Use 'llamacpp:embedded' or 'llamacpp:/path/to/model.gguf'.",
        )
    return path.resolve()


def _cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppServer:
    """llama.cpp's HTTP server for one GGUF, in this process, on 127.0.0.1 (a free port).

    The server's worker threads do not busy-wait between requests (``poll = 0``): on a machine shared with a
    trainer or other jobs, spinning threads slow everything else down for no gain in a batch job.
    """

    def __init__(
        self,
        gguf: Path,
        parallel: int = DEFAULT_PARALLEL,
        n_ctx: int = DEFAULT_CONTEXT,
        threads: int | None = None,
    ):
        try:
            import xllamacpp
        except ImportError as exc:
            raise RlaifError("the llamacpp backend needs the 'xllamacpp' package", hint=INSTALL_HINT) from exc
        started = time.perf_counter()
        threads = threads or _cpu_cores()
        params = xllamacpp.CommonParams()
        params.model.path = str(gguf)
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.n_parallel = parallel
        params.kv_unified = (
            True  # one KV cache shared by all slots; without it each slot gets n_ctx / parallel
        )
        params.n_ctx = n_ctx
        params.warmup = False
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cpuparams.poll = 0
        params.cpuparams_batch.poll = 0
        params.endpoint_metrics = True
        params.ui = False
        params.verbosity = 0
        self.gguf = gguf
        self.parallel = parallel
        self.n_ctx = n_ctx
        self.threads = threads
        self._server: Any = xllamacpp.Server(params)
        address = self._server.listening_address
        if not address:
            raise RlaifError(f"llama.cpp server for {gguf.name} started but reports no listening address")
        self.url = address.rstrip("/")
        self.start_seconds = time.perf_counter() - started

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def close(self) -> None:
        """Stop the server now (dropping the last reference also stops it: its destructor joins the loop)."""
        self._server = None


class LlamaCppChatModel(OpenAIChatModel):
    """A chat model backed by an in-process llama.cpp server (see the module docstring)."""

    def __init__(
        self,
        spec: str = "embedded",
        *,
        parallel: int = DEFAULT_PARALLEL,
        n_ctx: int = DEFAULT_CONTEXT,
        threads: int | None = None,
        timeout: float = 600.0,
        max_retries: int = 2,
    ):
        gguf = resolve_gguf(spec)
        self.server = LlamaCppServer(gguf, parallel=parallel, n_ctx=n_ctx, threads=threads)
        super().__init__(
            gguf.stem,
            base_url=self.server.base_url,
            max_concurrency=parallel,
            timeout=timeout,
            max_retries=max_retries,
            logprobs=True,
            name=f"llamacpp:{gguf.stem}",
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "gguf": str(self.server.gguf),
            "parallel": self.server.parallel,
            "n_ctx": self.server.n_ctx,
            "threads": self.server.threads,
        }

    def close(self) -> None:
        super().close()
        self.server.close()


def llamacpp_factory(spec: str, options: dict[str, Any]) -> LlamaCppChatModel:
    """A GGUF served by llama.cpp in-process (xllamacpp): llamacpp:embedded or llamacpp:/path/model.gguf."""
    return LlamaCppChatModel(spec, **options)


__all__ = [
    "LlamaCppChatModel",
    "LlamaCppOptions",
    "LlamaCppServer",
    "llamacpp_factory",
    "resolve_gguf",
]
