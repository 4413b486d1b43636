"""Find the final answer in a worked solution: the part worth handing to a symbolic checker.

Order of preference mirrors how answers are conventionally marked: ``\\boxed{}`` (MATH, most chat models),
``#### N`` (GSM8K), "the answer is ...", and finally the last number in the text.

A final answer is a commitment, so hedges do not count as one (see :func:`extract_answers`): every distinct
boxed answer must be right (``\\boxed{4} \\boxed{5}`` is two answers, not a free second guess), an empty
final ``\\boxed{}`` is no answer (no falling back to the last number in the text), and alternatives that
the checker would silently cut down to their last part (``3 \\lor 4``, ``4 \\text{ (or 3)}``) are read as
the set of alternatives -- as math-verify already reads ``3 \\text{ or } 4`` -- which matches a single gold
answer only when every alternative equals it.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_HASHES = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*(.+?)(?:\n|$)", re.IGNORECASE)
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_NUMBER = re.compile(r"-?\d(?:[\d,]*\d)?(?:\.\d+)?(?:\s*/\s*\d+)?")  # never ends in a comma: "4, as"


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


def boxed_all(text: str) -> list[str]:
    """Contents of every complete ``\\boxed{...}`` / ``\\fbox{...}`` (and brace-less ``\\boxed 5``), in order;
    a box nested inside another counts once, as part of the outer one."""
    found: list[str] = []
    end = 0
    for match in _BOX.finditer(text):
        start = match.end()
        if match.start() < end:  # inside the previous box
            continue
        if start < len(text) and text[start] == "{":
            depth = 0
            for i in range(start, len(text)):
                if text[i] == "{" and text[i - 1] != "\\":
                    depth += 1
                elif text[i] == "}" and text[i - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        found.append(text[start + 1 : i].strip())
                        end = i + 1
                        break
            continue
        token = re.match(r"[^\s$]+", text[start:])
        if token:
            found.append(token.group(0))
            end = start + token.end()
    return found


# Alternatives that math-verify would cut down to their last part ("3 \lor 4" -> 4): written as a comma they
# become a set of answers, as "3 \text{ or } 4" already is.
_TEXT_GROUP = re.compile(
    r"\\(?:text|textrm|textbf|textit|textnormal|mathrm|mathit|mathbf|operatorname|mbox)\s*\{([^{}]*)\}"
)
_HEDGE_WORDS = re.compile(r"\b(?:either|or|and/or|maybe|perhaps|possibly|probably)\b", re.IGNORECASE)
_ALTERNATIVE = re.compile(r"\\(?:lor|vee)(?![a-zA-Z])")
_ENVIRONMENT = re.compile(r"\\begin\{[^}]*\}.*?\\end\{[^}]*\}", re.DOTALL)


def separate_alternatives(answer: str) -> str:
    """``answer`` with hedging alternatives written as a comma-separated list (a set, to the checker).

    ``3 \\lor 4``, ``3 \\vee 4``, ``3 \\operatorname{or} 4``, ``4 \\text{ (or 3)}``, ``3 \\text{, } 4`` and a line
    break ``3 \\\\ 4`` outside a matrix/cases environment all become ``3, 4``. Text without such a word is
    left alone (``5.4 \\text{ cents}``).
    """

    def text_group(match: re.Match) -> str:
        content = match.group(1)
        if _HEDGE_WORDS.search(content) or content.strip() in (",", ";"):
            content = _HEDGE_WORDS.sub(",", content).replace("(", " ").replace(")", " ").replace(";", ",")
            return " , " + content + " , "
        return match.group(0)

    environments: list[str] = []

    def keep(match: re.Match) -> str:
        environments.append(match.group(0))
        return f"\x00{len(environments) - 1}\x00"

    text = _ENVIRONMENT.sub(keep, answer)
    text = _TEXT_GROUP.sub(text_group, text)
    text = _ALTERNATIVE.sub(" , ", text)
    text = text.replace("\\\\", " , ")
    if text != _ENVIRONMENT.sub(keep, answer):
        text = re.sub(r"\s*,\s*(?:,\s*)*", ", ", text).strip().strip(",").strip()
    return re.sub(r"\x00(\d+)\x00", lambda m: environments[int(m.group(1))], text)


def _clean(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip().strip("$").strip()
    answer = re.sub(r"^\\\(|\\\)$", "", answer).strip()
    if _THOUSANDS.fullmatch(answer):  # 1,234 -> 1234, but leave tuples and intervals like (2,12) alone
        answer = answer.replace(",", "")
    return answer.rstrip(".").strip()


def extract_answers(text: str) -> tuple[list[str], str, str | None]:
    """``(answers, method, problem)``: every distinct final answer the text commits to, last one last.

    Boxes decide when there are any: all distinct non-empty boxed answers are returned (each must be
    right: a second, different box is a hedge). An empty final box gives ``([], "boxed", problem)``.
    Without boxes it is one answer from ``#### N``, "the answer is ...", or the last number.
    """
    boxes = boxed_all(text)
    if boxes:
        if not boxes[-1]:
            return [], "boxed", "the final \\boxed{} is empty"
        answers: list[str] = []
        seen: set[str] = set()
        for box in reversed(boxes):
            if _BOX.search(box):  # \boxed{\boxed{4}}
                box = last_boxed(box) or box
            answer = _clean(box)
            key = re.sub(r"\s+", "", answer)
            if answer and key not in seen:
                seen.add(key)
                answers.insert(0, answer)
        return answers, "boxed", None
    answer, method = _fallback_answer(text)
    return ([answer] if answer else []), method, None


def extract_answer(text: str) -> tuple[str | None, str]:
    """``(answer, method)`` -- the last of :func:`extract_answers`; ``(None, "none")`` when nothing
    answer-like is present (or the final box is empty)."""
    answers, method, problem = extract_answers(text)
    if answers:
        return answers[-1], method
    return None, "none" if problem is None else method


def _fallback_answer(text: str) -> tuple[str | None, str]:
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
