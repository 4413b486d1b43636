"""Constitutions: the principles a model is critiqued, revised and judged against.

A constitution is a YAML file the user writes (schema: ``rlaif/schemas/constitution.schema.json``). Loading
validates it completely -- every problem reported at once, each with its field path -- so
``rlaif constitution check`` can show everything wrong in one go.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.files import load_schema, load_yaml_mapping, schema_problems
from rlaif.paths import shipped_dir

SCHEMA_FILE = "constitution.schema.json"


@dataclass(frozen=True)
class Principle:
    id: str
    critique_request: str
    revision_request: str
    judging_question: str
    weight: float = 1.0
    tags: tuple[str, ...] = ()
    rewards: tuple[Any, ...] = ()
    criteria: tuple[str, ...] = ()
    """Additive rubric criteria for the score judge (``scale: rubric``)."""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Free-form provenance (e.g. the agreement ``rlaif constitution learn`` measured); kept, never acted on."""

    def reward_specs(self) -> list[tuple[str, dict[str, Any]]]:
        """The attached rewards as ``(name, options)``; the file may write a bare name or ``{name, options}``."""
        return [
            (entry, {}) if isinstance(entry, str) else (entry["name"], dict(entry.get("options") or {}))
            for entry in self.rewards
        ]


@dataclass(frozen=True)
class Example:
    prompt: str
    response: str
    critique: str
    revision: str
    principle: str | None = None


@dataclass(frozen=True)
class Constitution:
    name: str
    principles: tuple[Principle, ...]
    description: str = ""
    version: str | None = None
    examples: tuple[Example, ...] = ()
    source: str | None = field(default=None, compare=False)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Free-form provenance of the whole constitution (e.g. how it was learned); kept, never acted on."""

    def principle(self, principle_id: str) -> Principle:
        for principle in self.principles:
            if principle.id == principle_id:
                return principle
        raise KeyError(principle_id)

    def sample(self, rng: random.Random) -> Principle:
        """A principle drawn by weight; ``rng`` is seeded per prompt so resumed runs draw the same one."""
        weights = [principle.weight for principle in self.principles]
        return rng.choices(self.principles, weights=weights, k=1)[0]

    def examples_for(self, principle: Principle) -> list[Example]:
        return [example for example in self.examples if example.principle in (None, principle.id)]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.description:
            data["description"] = self.description
        if self.version is not None:
            data["version"] = self.version
        data["principles"] = [
            {
                "id": p.id,
                "critique_request": p.critique_request,
                "revision_request": p.revision_request,
                "judging_question": p.judging_question,
                "weight": p.weight,
                "tags": list(p.tags),
                **({"rewards": list(p.rewards)} if p.rewards else {}),
                **({"criteria": list(p.criteria)} if p.criteria else {}),
                **({"metadata": dict(p.metadata)} if p.metadata else {}),
            }
            for p in self.principles
        ]
        if self.examples:
            data["examples"] = [
                {k: v for k, v in vars(example).items() if v is not None} for example in self.examples
            ]
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        return data


def shipped_constitutions() -> dict[str, Path]:
    """Constitutions that come with rlaif, by name (file stem)."""
    return {path.stem: path for path in sorted(shipped_dir("constitutions").glob("*.yaml"))}


def resolve_constitution_path(reference: str, base_dir: Path | None = None) -> Path:
    """A path (relative to ``base_dir``, the config's folder) or the name of a shipped constitution."""
    candidate = Path(reference).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if candidate.exists() or "/" in reference or reference.endswith((".yaml", ".yml", ".json")):
        return candidate
    shipped = shipped_constitutions()
    if reference in shipped:
        return shipped[reference]
    from rlaif.errors import unknown_name_error

    raise unknown_name_error("constitution", reference, list(shipped))


def constitution_problems(data: dict[str, Any], file: str | None) -> list[Problem]:
    """Schema violations plus the rules a schema cannot express (unique ids, some weight above zero)."""
    problems = schema_problems(data, load_schema(SCHEMA_FILE), file)
    principles = data.get("principles")
    if isinstance(principles, list):
        seen: dict[str, int] = {}
        for index, principle in enumerate(principles):
            if not isinstance(principle, dict) or not isinstance(principle.get("id"), str):
                continue
            pid = principle["id"]
            if pid in seen:
                problems.append(
                    Problem(
                        f"duplicate principle id '{pid}' (also principles[{seen[pid]}])",
                        file,
                        f"principles[{index}].id",
                    )
                )
            seen.setdefault(pid, index)
        weights = [p.get("weight", 1) for p in principles if isinstance(p, dict)]
        numeric = [w for w in weights if isinstance(w, int | float) and not isinstance(w, bool)]
        if principles and len(numeric) == len(weights) and all(w == 0 for w in numeric):
            problems.append(
                Problem("every principle has weight 0; at least one must be above 0", file, "principles")
            )
        ids = set(seen)
        for index, example in enumerate(data.get("examples") or []):
            if (
                isinstance(example, dict)
                and isinstance(example.get("principle"), str)
                and example["principle"] not in ids
            ):
                problems.append(
                    Problem(
                        f"unknown principle '{example['principle']}'", file, f"examples[{index}].principle"
                    )
                )
    return problems


def constitution_from_dict(data: dict[str, Any], source: str | None = None) -> Constitution:
    """Build a validated constitution; raises :class:`RlaifError` listing every problem."""
    problems = constitution_problems(data, source)
    if problems:
        raise RlaifError(f"{source or 'constitution'}: invalid constitution", problems)
    principles = tuple(
        Principle(
            id=p["id"],
            critique_request=p["critique_request"].strip(),
            revision_request=p["revision_request"].strip(),
            judging_question=p["judging_question"].strip(),
            weight=float(p.get("weight", 1)),
            tags=tuple(p.get("tags", ())),
            rewards=tuple(p.get("rewards", ())),
            criteria=tuple(p.get("criteria", ())),
            metadata=dict(p.get("metadata") or {}),
        )
        for p in data["principles"]
    )
    examples = tuple(Example(**example) for example in data.get("examples", ()))
    version = data.get("version")
    return Constitution(
        name=data["name"],
        principles=principles,
        description=data.get("description", "").strip(),
        version=str(version) if version is not None else None,
        examples=examples,
        source=source,
        metadata=dict(data.get("metadata") or {}),
    )


def load_constitution(reference: str | Path, base_dir: Path | None = None) -> Constitution:
    """Load a constitution by path or shipped name (``helpful-harmless``, ``concise-direct``, ...)."""
    path = resolve_constitution_path(str(reference), base_dir)
    return constitution_from_dict(load_yaml_mapping(path, "constitution"), source=str(path))
