"""Step 1 of learning a constitution: the critic proposes principles that explain why the preferred response won.

The critic sees one labelled pair (conversation, preferred response, rejected response) and is asked for a few
short, general rules, each written as "Select the response that <property>." -- the form Inverse Constitutional
AI (Findeis et al., ICLR 2025) uses, because one property phrase gives all three texts a constitution needs:

- judging question: "Which response <property>?"
- critique request: how the response falls short of "<property>";
- revision request: rewrite the response to follow it.

Deriving the three from one phrase (rather than asking the critic for three texts) keeps them consistent with
each other and keeps the parsing robust for small critics, which rarely follow a multi-field format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlaif.constitution import Principle
from rlaif.judges.data import PreferencePair
from rlaif.judges.pairwise import render_conversation
from rlaif.protocols import Conversation

PROPOSE_TEMPLATE = """People compared two assistant replies to the same conversation and preferred the first one.

[Conversation]
{conversation}

[Preferred reply]
{chosen}

[Rejected reply]
{rejected}

Why was the first reply preferred? Write {count} short, general rules that would make a judge pick the \
preferred reply in other conversations too. Put each rule on its own line and start it with \
"Select the response that"."""

PREFIX = "select the response that"
MIN_WORDS, MAX_WORDS = 2, 30
_LEAD = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|rule\s*\d*:?)\s*", re.IGNORECASE)
_PROPERTY = re.compile(
    r"(?:select|pick|choose|prefer)\s+(?:the|a)\s+(?:response|reply|answer)\s+(?:that|which)\s+(.+)",
    re.IGNORECASE,
)
_STOP = re.compile(r"""\*\*|[:"()\[\]]|(?<=[a-z0-9)])[.!?;](?:\s|$)""", re.IGNORECASE)
DANGLING = frozenset("a an the to of and or that is are with for by in on than as".split())
"""A phrase ending in one of these was cut off (by the reply's token limit, say): not a property."""


def propose_prompt(pair: PreferencePair, count: int) -> Conversation:
    """The critic's question about one pair."""
    text = PROPOSE_TEMPLATE.format(
        conversation=render_conversation(pair.prompt), chosen=pair.chosen, rejected=pair.rejected, count=count
    )
    return [{"role": "user", "content": text}]


def parse_properties(reply: str, count: int) -> list[str]:
    """The property phrases in a critic's reply ("Select the response that <property>"), at most ``count``.

    A line without the phrase is ignored: a critic that ignores the format contributes nothing rather than a
    principle made of its chatter. "Pick / choose a reply that" counts too. A phrase ends at its first sentence
    end, colon, quote, bracket or markdown bold; one that ends in a dangling word ("is easy to": cut off by the
    token limit) or is shorter than 2 or longer than 30 words is dropped.
    """
    found: list[str] = []
    for line in reply.splitlines():
        match = _PROPERTY.search(_LEAD.sub("", line))
        if not match:
            continue
        phrase = _STOP.split(match.group(1).strip(), maxsplit=1)[0]
        phrase = " ".join(phrase.strip().strip("\"'*.!?;:,").split())
        words = phrase.split()
        if not MIN_WORDS <= len(words) <= MAX_WORDS or words[-1].lower() in DANGLING:
            continue
        phrase = phrase[0].lower() + phrase[1:]
        if phrase.lower() not in (p.lower() for p in found):
            found.append(phrase)
        if len(found) >= count:
            break
    return found


@dataclass(frozen=True)
class Candidate:
    """A merged candidate: its property phrase, how often it was proposed, and the variants merged into it."""

    property: str
    support: int
    variants: tuple[str, ...]
    pairs: tuple[str, ...]
    """Digests of the pairs whose critique proposed it."""


def slug(text: str, taken: set[str], prefix: str = "learned") -> str:
    """A principle id from a phrase (``learned-more-concise``), unique among ``taken`` (which it joins)."""
    words = [
        w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in {"the", "a", "an", "is", "that", "it"}
    ]
    base = "-".join([prefix, *words[:5]]) if words else prefix
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


def principle_for(property_phrase: str, principle_id: str) -> Principle:
    """The constitution-shaped principle for one property phrase."""
    return Principle(
        id=principle_id,
        critique_request=(
            "Identify specific ways in which the assistant's last response falls short of this principle: "
            f"select the response that {property_phrase}."
        ),
        revision_request=(
            "Rewrite the assistant's response so that it follows this principle: select the response that "
            f"{property_phrase}. Reply with the improved response only."
        ),
        judging_question=f"Which response {property_phrase}?",
        tags=("learned",),
    )
