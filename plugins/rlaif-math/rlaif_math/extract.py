"""Find the final answer in a worked solution: the part worth handing to a symbolic checker.

Order of preference mirrors how answers are conventionally marked: ``\\boxed{}`` (MATH, most chat models),
``#### N`` (GSM8K), "the answer is ...", and finally the last number in the text.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_HASHES = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*(.+?)(?:\n|$)", re.IGNORECASE)
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox``), honouring nested braces; None if absent.

    ``\\boxed 5`` (no braces, valid LaTeX) yields ``5``. An unbalanced final box is skipped in favour of an
    earlier complete one, since truncated generations often end mid-box.
    """
    for match in reversed(list(_BOX.finditer(text))):
        start = match.end()
        if start < len(text) and text[start] == "{":
            depth = 0
            for i in range(start, len(text)):
                if text[i] == "{" and text[i - 1] != "\\":
                    depth += 1
                elif text[i] == "}" and text[i - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        return text[start + 1 : i].strip()
            continue
        token = re.match(r"[^\s$]+", text[start:])
        if token:
            return token.group(0)
    return None


def _clean(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip().strip("$").strip()
    answer = re.sub(r"^\\\(|\\\)$", "", answer).strip()
    if _THOUSANDS.fullmatch(answer):  # 1,234 -> 1234, but leave tuples and intervals like (2,12) alone
        answer = answer.replace(",", "")
    return answer.rstrip(".").strip()


def extract_answer(text: str) -> tuple[str | None, str]:
    """``(answer, method)``; ``(None, "none")`` when nothing answer-like is present."""
    boxed = last_boxed(text)
    if boxed:
        return _clean(boxed), "boxed"
    hashes = _HASHES.findall(text)
    if hashes:
        return _clean(hashes[-1]), "####"
    stated = _ANSWER_IS.findall(text)
    if stated and _clean(stated[-1]):
        return _clean(stated[-1]), "answer-is"
    numbers = _NUMBER.findall(text)
    if numbers:
        return _clean(numbers[-1]), "last-number"
    return None, "none"
