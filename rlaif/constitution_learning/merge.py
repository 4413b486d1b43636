"""Step 2: merge near-identical candidate principles before paying for judging them.

Method: normalised token Jaccard similarity of the property phrases, greedy clustering. A phrase is lower-cased,
split into words, stripped of words that carry no property ("the", "response", "is", ...) and lightly stemmed
("detailed" and "details" -> "detail"); two phrases are the same candidate when the Jaccard index of their word
sets is at least ``threshold``. Phrases are visited most-proposed first, and each joins the first cluster whose
representative (its most-proposed phrase) is similar enough, else starts a new one.

Why this method: it is exact and deterministic (the tests can state which phrases merge), needs no model and
no extra calls, and is cheap (comparisons = phrases x clusters, a few thousand string operations for hundreds of
proposals). Comparatives and negations ("more", "less", "not") are kept as content words, so "is more concise"
and "is less concise" stay apart. What it costs: it merges by shared words, not meaning -- "is shorter" and "is
more concise" stay two candidates (each then costs its own judge calls), and two phrases that share most words but
differ in one decisive word ("avoids medical advice" / "gives medical advice") can merge at a low threshold.
Each survivor records its merged variants in the constitution's metadata, so a person can see what was merged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rlaif.constitution_learning.propose import Candidate

DEFAULT_THRESHOLD = 0.6
FILLER = frozenset(
    "a an the that this these those which response responses reply replies answer answers is are be being "
    "was were it its of to and or as for with by on in at one".split()
)
_SUFFIXES = ("ings", "ing", "edly", "ed", "ies", "es", "s", "ly")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 4 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokens(phrase: str) -> frozenset[str]:
    """The content words of a property phrase, stemmed: what similarity is measured on."""
    return frozenset(_stem(w) for w in re.findall(r"[a-z0-9']+", phrase.lower()) if w not in FILLER)


def similarity(first: str, second: str) -> float:
    """Jaccard index of the two phrases' content words (1.0 for two phrases with none: both empty)."""
    a, b = tokens(first), tokens(second)
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def merge_proposals(
    proposals: Sequence[tuple[str, str]], threshold: float = DEFAULT_THRESHOLD
) -> list[Candidate]:
    """Cluster ``(property phrase, pair digest)`` proposals; most-supported candidates first.

    Support counts distinct pairs that proposed any phrase of the cluster; ties keep first-proposed order.
    """
    counts: dict[str, int] = {}
    pairs_of: dict[str, list[str]] = {}
    first_seen: dict[str, int] = {}
    spelling: dict[str, str] = {}
    for index, (phrase, pair) in enumerate(proposals):
        key = " ".join(phrase.lower().split())
        spelling.setdefault(key, phrase)
        first_seen.setdefault(key, index)
        counts[key] = counts.get(key, 0) + 1
        pairs_of.setdefault(key, [])
        if pair not in pairs_of[key]:
            pairs_of[key].append(pair)
    order = sorted(counts, key=lambda key: (-counts[key], first_seen[key]))
    clusters: list[list[str]] = []
    for key in order:
        for cluster in clusters:
            if similarity(cluster[0], key) >= threshold:
                cluster.append(key)
                break
        else:
            clusters.append([key])
    candidates = []
    for cluster in clusters:
        pairs: list[str] = []
        for key in cluster:
            pairs += [p for p in pairs_of[key] if p not in pairs]
        candidates.append(
            Candidate(
                property=spelling[cluster[0]],
                support=len(pairs),
                variants=tuple(spelling[key] for key in cluster),
                pairs=tuple(pairs),
            )
        )
    first = {id(c): min(first_seen[" ".join(v.lower().split())] for v in c.variants) for c in candidates}
    return sorted(candidates, key=lambda c: (-c.support, first[id(c)]))
