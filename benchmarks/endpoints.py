"""Two llama.cpp servers behind one role vs one: throughput of ``base_url: [url1, url2]``.

Why: spreading a role over several servers is meant to add their throughput. Here both servers run on the same
machine, serving the embedded SmolLM2-135M GGUF (xllamacpp, in this process), so the gain is bounded by the
cores: on a 2-core box two 1-thread servers can at best use both cores, which one 1-thread server cannot -- but
one 2-thread server can. The arms, interleaved (fresh prompts per run, so no server reuses a cached prompt):

- ``one server``: ``base_url: [s1]`` (``--threads`` threads, ``--slots`` slots);
- ``two servers``: ``base_url: [s1, s2]``, the same settings each: the least-loaded routing splits the work;
- ``one server, 2x threads``: one more server with twice the threads -- the honest baseline on a small machine.

    python benchmarks/endpoints.py --quick
    python benchmarks/endpoints.py --requests 32 --max-tokens 32 --repeats 2

Prints seconds, requests/s and completion tokens/s per arm, the requests each server took, and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common
from openai_concurrency import prompts

from rlaif.models.openai_compat import OpenAIChatModel
from rlaif.protocols import GenerationParams


def run(urls: list[str], conversations: list, params: GenerationParams, slots: int) -> dict:
    backend = OpenAIChatModel("smollm2", base_url=urls, max_concurrency=slots, timeout=600)
    backend.generate(conversations[:1], params)  # warm: client, loop thread, connections
    before = backend.usage_stats()
    started = time.perf_counter()
    replies = backend.generate(conversations[1:], params)
    elapsed = time.perf_counter() - started
    after = backend.usage_stats()
    backend.close()
    assert len(replies) == len(conversations) - 1
    split = {
        url: counts["requests"] - before["endpoints"][url]["requests"]
        for url, counts in after.get("endpoints", {}).items()
    }
    return {
        "seconds": elapsed,
        "requests": len(replies),
        "tokens": after["completion_tokens"] - before["completion_tokens"],
        "split": split,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 requests, 16 tokens, 1 repeat")
    parser.add_argument("--requests", type=int, default=32, help="requests per run")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per arm, interleaved; the median is reported"
    )
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads per server")
    parser.add_argument("--slots", type=int, default=4, help="parallel slots per server (= max_concurrency)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.max_tokens, args.repeats = 8, 16, 1

    from tests.fixtures_llamacpp import start_llamacpp_server

    _common.header(
        f"one vs two llama.cpp endpoints ({args.requests} requests x {args.max_tokens} tokens, "
        f"{args.slots} slots and {args.threads} thread(s) per server)"
    )
    first = start_llamacpp_server(parallel=args.slots, threads=args.threads)
    second = start_llamacpp_server(parallel=args.slots, threads=args.threads)
    wide = start_llamacpp_server(parallel=args.slots, threads=2 * args.threads)
    params = GenerationParams(max_new_tokens=args.max_tokens, temperature=0.0)
    arms = {
        "one server": ([first.base_url], args.slots),
        "two servers": ([first.base_url, second.base_url], args.slots),
        f"one server, {2 * args.threads} threads": ([wide.base_url], args.slots),
    }
    runs = iter(range(10**6))
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    for repeat in range(args.repeats):
        order = list(arms) if repeat % 2 == 0 else list(reversed(arms))
        for arm in order:
            urls, slots = arms[arm]
            out = run(urls, prompts(args.requests + 1, next(runs)), params, slots)
            results[arm].append(out)
            print(f"  {arm}: {out['seconds']:.2f} s (load {_common.load_average()})", flush=True)
    rows, seconds = [], {}
    for arm, outs in results.items():
        seconds[arm] = statistics.median(out["seconds"] for out in outs)
        tokens = statistics.median(out["tokens"] for out in outs)
        split = outs[-1]["split"]
        rows.append(
            [
                arm,
                len(outs),
                seconds[arm],
                outs[0]["requests"] / seconds[arm],
                tokens / seconds[arm],
                " / ".join(str(n) for n in split.values()) if split else "-",
            ]
        )
    print(_common.table(["arm", "runs", "median s", "requests/s", "tokens/s", "requests per server"], rows))
    wide_arm = f"one server, {2 * args.threads} threads"
    print(
        f"throughput two servers / one server: {seconds['one server'] / seconds['two servers']:.2f}x; "
        f"two servers / one server with {2 * args.threads} threads: {seconds[wide_arm] / seconds['two servers']:.2f}x"
    )
    print(f"load average at end: {_common.load_average()}")
    for server in (first, second, wide):
        server.close()


if __name__ == "__main__":
    main()
