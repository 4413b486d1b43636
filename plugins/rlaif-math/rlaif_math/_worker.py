"""Checker worker: reads ``{"gold", "pred"}`` JSON lines on stdin, writes ``{"ok"}`` lines on stdout.

Runs in its own process so the parent can kill it when sympy gets stuck on an adversarial expression;
math-verify's built-in SIGALRM timeout is disabled (it cannot work off the main thread).
"""

from __future__ import annotations

import json
import logging
import os
import sys


def main() -> None:
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from sympy/math-verify must not corrupt the protocol
    logging.disable(logging.WARNING)
    from math_verify import parse, verify

    def parsed(expr: str) -> list:
        # Wrapping in \boxed{} lets math-verify's LaTeX extractor read both LaTeX and plain numbers.
        result = parse("\\boxed{" + expr + "}", parsing_timeout=None)
        return result or parse(expr, parsing_timeout=None)

    gold_cache: dict[str, list] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            gold = gold_cache.get(request["gold"])
            if gold is None:
                gold = gold_cache[request["gold"]] = parsed(request["gold"])
                if len(gold_cache) > 4096:
                    gold_cache.clear()
            pred = parsed(request["pred"])
            ok = bool(gold) and bool(pred) and verify(gold, pred, timeout_seconds=None)
            reply = {"ok": ok, "gold": [str(g) for g in gold[:1]], "pred": [str(p) for p in pred[:1]]}
        except Exception as exc:  # report, keep serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
