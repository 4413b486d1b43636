"""Throughput of the ``openai`` backend vs. the raw server, at concurrency 1, 4 and 8.

Why: the backend adds a thread hop, a semaphore, retry bookkeeping and response validation on top of the
``openai`` client. This measures what that costs against the same requests sent straight with
``openai.AsyncOpenAI`` + ``asyncio.gather`` (no rlaif), on a local llama.cpp server (xllamacpp) serving the
embedded SmolLM2-135M GGUF -- or on any server given with ``--base-url``.

    python benchmarks/openai_concurrency.py --quick
    python benchmarks/openai_concurrency.py --requests 48 --max-tokens 32 --threads 2
    python benchmarks/openai_concurrency.py --canned      # client overhead only: a server that answers at once

Prints requests/s and completion tokens/s for both paths and the ratio ours/raw (1.00 = no overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rlaif.models.openai_compat import OpenAIChatModel  # noqa: E402
from rlaif.protocols import GenerationParams  # noqa: E402

TOPICS = [
    "rivers",
    "bread",
    "chess",
    "owls",
    "rain",
    "bridges",
    "tea",
    "maps",
    "glass",
    "bees",
    "salt",
    "kites",
]


def prompts(count: int, run: int) -> list[list[dict[str, str]]]:
    """Fresh prompts per run: llama.cpp caches prompt prefixes per slot, so repeating a run's prompts would
    let whichever path runs second skip prompt processing."""
    return [
        [{"role": "user", "content": f"[{run}-{i}] Write two sentences about {TOPICS[i % len(TOPICS)]}."}]
        for i in range(count)
    ]


def run_ours(
    base_url: str, model: str, conversations: list, params: GenerationParams, concurrency: int
) -> tuple:
    backend = OpenAIChatModel(model, base_url=base_url, max_concurrency=concurrency, timeout=300)
    backend.generate(conversations[:1], params)  # warm: client, loop thread, connection
    before = backend.usage_stats()["completion_tokens"]
    started = time.perf_counter()
    replies = backend.generate(conversations, params)
    elapsed = time.perf_counter() - started
    tokens = backend.usage_stats()["completion_tokens"] - before
    backend.close()
    assert len(replies) == len(conversations)
    return elapsed, tokens


def run_raw(
    base_url: str, model: str, conversations: list, params: GenerationParams, concurrency: int
) -> tuple:
    import openai

    async def main() -> tuple[float, int]:
        client = openai.AsyncOpenAI(
            base_url=base_url, api_key="sk-no-key-required", max_retries=0, timeout=300
        )
        semaphore = asyncio.Semaphore(concurrency)

        async def one(conversation: list) -> Any:
            async with semaphore:
                return await client.chat.completions.create(
                    model=model,
                    messages=conversation,
                    max_tokens=params.max_new_tokens,
                    temperature=params.temperature,
                )

        await one(conversations[0])  # warm
        started = time.perf_counter()
        responses = await asyncio.gather(*(one(conversation) for conversation in conversations))
        elapsed = time.perf_counter() - started
        await client.close()
        return elapsed, sum(response.usage.completion_tokens for response in responses)

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 requests per level, 16 tokens, 1 repeat")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="runs per cell; the median is reported")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--base-url", help="benchmark this server instead of starting llama.cpp locally")
    parser.add_argument("--model", default="smollm2", help="model name sent to the server")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp CPU threads (local server only)")
    parser.add_argument("--slots", type=int, default=8, help="llama.cpp parallel slots (local server only)")
    parser.add_argument(
        "--canned",
        action="store_true",
        help="no model: a local HTTP server answers every request at once with a fixed reply, so the table "
        "shows pure client-side cost per request (200 requests per level unless --requests is given)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.max_tokens, args.repeats = 8, 16, 1
    if args.canned and "--requests" not in (argv if argv is not None else sys.argv):
        args.requests = 200

    server = None
    base_url = args.base_url
    if args.canned:
        from tests.fixtures_llamacpp import FaultProxy

        server = FaultProxy("http://127.0.0.1:9", ["canned"])
        base_url = server.base_url
        print(f"canned-reply HTTP server at {base_url} (Python ThreadingHTTPServer, no model)")
    elif base_url is None:
        from tests.fixtures_llamacpp import start_llamacpp_server

        server = start_llamacpp_server(parallel=args.slots, threads=args.threads)
        base_url = server.base_url
        print(
            f"llama.cpp server (xllamacpp) at {base_url}: started in {server.start_seconds:.2f}s, "
            f"{args.slots} slots, {args.threads} thread(s)"
        )
    params = GenerationParams(max_new_tokens=args.max_tokens, temperature=0.0)
    runs = iter(range(10**6))
    print(f"{args.requests} requests x {args.max_tokens} max tokens, greedy, median of {args.repeats}\n")
    header = f"{'conc':>4} | {'ours req/s':>10} {'ours tok/s':>10} | {'raw req/s':>9} {'raw tok/s':>9} | {'ratio':>5}"
    print(header)
    print("-" * len(header))
    throughput: dict[int, tuple[float, float]] = {}  # concurrency -> (ours req/s, raw req/s)
    for concurrency in args.concurrency:
        ours, raw = [], []
        for _ in range(args.repeats):  # interleaved, so load drift hits both paths alike
            ours.append(
                run_ours(base_url, args.model, prompts(args.requests, next(runs)), params, concurrency)
            )
            raw.append(run_raw(base_url, args.model, prompts(args.requests, next(runs)), params, concurrency))
        ours_s = statistics.median(elapsed for elapsed, _ in ours)
        raw_s = statistics.median(elapsed for elapsed, _ in raw)
        ours_tok = statistics.median(tokens for _, tokens in ours)
        raw_tok = statistics.median(tokens for _, tokens in raw)
        throughput[concurrency] = (args.requests / ours_s, args.requests / raw_s)
        print(
            f"{concurrency:>4} | {args.requests / ours_s:>10.2f} {ours_tok / ours_s:>10.1f} | "
            f"{args.requests / raw_s:>9.2f} {raw_tok / raw_s:>9.1f} | {raw_s / ours_s:>5.2f}"
        )
    print("\nratio = raw time / our time (1.00 = no overhead; > 1 means we were faster, i.e. noise)")
    low, high = min(throughput), max(throughput)
    if high > low:
        ours_gain = throughput[high][0] / throughput[low][0]
        raw_gain = throughput[high][1] / throughput[low][1]
        print(
            f"scaling, concurrency {high} / {low}: ours {ours_gain:.2f}x, raw client (the server's own gain) "
            f"{raw_gain:.2f}x; ours / server's = {ours_gain / raw_gain:.2f}"
        )
    if args.canned:
        server.close()
    del server


if __name__ == "__main__":
    main()
