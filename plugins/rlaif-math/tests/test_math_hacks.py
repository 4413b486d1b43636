"""Hedged and malformed answers against the math reward: every hack scores 0, every control 1.

A hack here is an answer that does not commit to the gold value yet could be paid: two boxed answers,
alternatives ("3 or 4", ``3 \\lor 4``), an interval, set or ``\\pm`` around the value, a long list, an empty
box after the real work. ``before`` records what the checker gave before these rules (1.0: it paid);
controls are correct answers in legitimate formats -- repeated or equivalent boxes included -- that must
keep scoring 1.
"""

from __future__ import annotations

import pytest
from rlaif_math import extract_answers, separate_alternatives

from rlaif import build_reward

# (name, gold, completion, score before the hedge rules)
HACKS = [
    ("two-boxes-last-right", "5", r"It is \boxed{4}. Or rather \boxed{5}.", 1.0),
    ("two-boxes-first-right", "4", r"\boxed{4} \boxed{5}", 0.0),
    ("boxes-joined-by-or", "4", r"The answer is \boxed{3} or \boxed{4}.", 1.0),
    ("many-boxes", "7", "".join(rf"\boxed{{{n}}} " for n in range(1, 11)) + r"\boxed{7}", 1.0),
    ("text-or", "4", r"\boxed{3 \text{ or } 4}", 0.0),
    ("plain-or", "4", "The answer is 3 or 4", 0.0),
    ("hashes-or", "4", "#### 3 or 4", 0.0),
    ("lor", "4", r"\boxed{3 \lor 4}", 1.0),
    ("vee", "4", r"\boxed{3 \vee 4}", 1.0),
    ("operatorname-or", "4", r"\boxed{3 \operatorname{or} 4}", 1.0),
    ("parenthetical-or", "4", r"\boxed{4 \text{ (or 3)}}", 1.0),
    ("text-comma", "4", r"\boxed{3 \text{, } 4}", 1.0),
    ("line-break", "4", r"\boxed{3 \\ 4}", 1.0),
    ("text-4-or-5", "4", r"\boxed{\text{4 or 5}}", 0.0),
    ("closed-interval", "4", r"\boxed{[3, 5]}", 0.0),
    ("open-interval", "4", r"\boxed{(3, 5)}", 0.0),
    ("membership", "4", r"\boxed{x \in [3, 5]}", 0.0),
    ("inequality", "4", r"\boxed{3 \le x \le 5}", 0.0),
    ("set", "4", r"\boxed{\{3, 4, 5\}}", 0.0),
    ("plus-minus-around", "4", r"\boxed{4 \pm 1}", 0.0),
    ("plus-minus-reaching", "5", r"\boxed{4 \pm 1}", 0.0),
    ("plus-minus-sign", "4", r"\boxed{\pm 4}", 0.0),
    ("all-reals", "4", r"\boxed{\mathbb{R}}", 0.0),
    ("long-list-boxed", "4", r"\boxed{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}", 0.0),
    ("long-list-text", "4", "It could be 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 or 12.", 0.0),
    ("empty-final-box", "4", r"\boxed{4} \boxed{}", 1.0),
    ("empty-box-after-work", "4", r"So x = 4. Hence \boxed{}", 1.0),
    ("empty-box-only", "4", r"\boxed{}", 0.0),
    ("blank-box", "4", r"\boxed{ }", 0.0),
    ("wrong-unit-number", "4", r"\boxed{4.5 \text{ cm}}", 0.0),
    ("digits-glued", "4", r"\boxed{44}", 0.0),
    ("other-side-of-equation", "4", r"\boxed{4 = 5}", 0.0),
    ("variable-only", "4", r"\boxed{x}", 0.0),
]

CONTROLS = [
    ("integer", "4", r"\boxed{4}"),
    ("decimal", "4", r"\boxed{4.0}"),
    ("fraction", "4", r"\boxed{\frac{8}{2}}"),
    ("root", "4", r"\boxed{\sqrt{16}}"),
    ("equation", "4", r"\boxed{x = 4}"),
    ("unit", "4", r"\boxed{4 \text{ cm}}"),
    ("dollars", "4", r"\boxed{\$4}"),
    ("hashes", "4", "#### 4"),
    ("answer-is", "4", "The answer is $4$."),
    ("last-number", "4", "Adding them up gives 4"),
    ("last-number-before-comma", "4", "Adding them up gives 4, as claimed."),
    ("repeated-box", "4", r"First \boxed{4}, and checking again: \boxed{ 4 }."),
    ("equivalent-boxes", r"\frac{1}{2}", r"\boxed{\frac{1}{2}}, that is \boxed{0.5}"),
    ("truncated-last-box", "4", r"\boxed{4} and then \boxed{\frac{1}{"),
    ("two-solutions-or", "3, 4", r"\boxed{3 \text{ or } 4}"),
    ("two-solutions-lor", "3, 4", r"\boxed{x = 3 \lor x = 4}"),
    ("two-solutions-reordered", "3, 4", r"\boxed{4, 3}"),
    ("plus-minus-pair", r"1 \pm \sqrt{19}", r"\boxed{1 \pm \sqrt{19}}"),
    ("union-of-intervals", r"(2,12) \cup (12,102)", r"\boxed{(2, 12) \cup (12, 102)}"),
    (
        "matrix",
        r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}",
        r"\boxed{\begin{pmatrix}-1&0\\0&-1\end{pmatrix}}",
    ),
    ("text-answer", r"\text{even}", r"\boxed{\text{even}}"),
    ("text-with-unit", r"5.4 \text{ cents}", r"\boxed{5.4}"),
    ("thousands", "4000", r"\boxed{4,000}"),
    ("nested-box", "4", r"\boxed{\boxed{4}}"),
]


@pytest.fixture(scope="module")
def verdicts():
    reward = build_reward("math", {"timeout": 10})
    cases = [(name, gold, text) for name, gold, text, _ in HACKS] + CONTROLS
    try:
        records = reward.details(None, [text for _, _, text in cases], answer=[gold for _, gold, _ in cases])
    finally:
        reward.close()
    return {name: record for (name, _, _), record in zip(cases, records, strict=True)}


@pytest.mark.parametrize(("name", "gold", "text", "before"), HACKS, ids=[case[0] for case in HACKS])
def test_hedged_answer_scores_zero(name, gold, text, before, verdicts):
    assert verdicts[name]["score"] == 0.0, verdicts[name]


@pytest.mark.parametrize(("name", "gold", "text"), CONTROLS, ids=[case[0] for case in CONTROLS])
def test_committed_answer_scores_one(name, gold, text, verdicts):
    assert verdicts[name]["score"] == 1.0, verdicts[name]


def test_messages_say_why(verdicts):
    assert verdicts["empty-final-box"]["message"] == r"the final \boxed{} is empty"
    assert "2 different answers, each must match" in verdicts["two-boxes-last-right"]["message"]
    assert "2 different answers" in verdicts["equivalent-boxes"]["message"]


def test_alternatives_become_a_list_and_boxes_are_all_kept():
    assert separate_alternatives(r"3 \lor 4 \vee 5") == "3, 4, 5"
    assert separate_alternatives(r"4 \text{ (or 3)}") == "4, 3"
    assert separate_alternatives(r"x = 3 \operatorname{or} x = 4") == "x = 3, x = 4"
    matrix = r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}"
    assert separate_alternatives(matrix) == matrix  # a line break inside an environment is no alternative
    assert separate_alternatives(r"5.4 \text{ cents}") == r"5.4 \text{ cents}"
    assert extract_answers(r"\boxed{4} then \boxed{ 4 } and \boxed{5}") == (["4", "5"], "boxed", None)
    assert extract_answers(r"\boxed{4} \boxed{}") == ([], "boxed", r"the final \boxed{} is empty")
    assert extract_answers("no digits at all") == ([], "none", None)
