"""Building judges inside judges: ensembles and fallbacks name member judges the way a run config does.

A member is ``{name, model, options}``: ``name`` a registered judge, ``model`` (optional) a role or spec
string for that member's judge model, ``options`` its own options (checked against its schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlaif.errors import RlaifError
from rlaif.files import schema_problems
from rlaif.protocols import ChatModel, Judge

MEMBER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "description": "A registered judge."},
        "model": {
            "type": "string",
            "description": "Role (policy/critic/judge) or model spec for this member.",
        },
        "options": {"type": "object", "default": {}},
    },
}


@dataclass
class MemberContext:
    """The parent's context, except that role ``judge`` means this member's own model when it names one."""

    parent: Any
    judge_model: str | None = None

    @property
    def registry(self) -> Any:
        return registry_of(self.parent)

    def model(self, role_or_spec: str) -> ChatModel:
        if role_or_spec == "judge" and self.judge_model:
            return self.parent.model(self.judge_model)
        return self.parent.model(role_or_spec)


def registry_of(context: Any) -> Any:
    registry = getattr(context, "registry", None)
    if registry is None:
        from rlaif.plugins import get_registry

        registry = get_registry()
    return registry


def build_member(member: dict[str, Any], context: Any, where: str) -> Judge:
    """A member judge from its ``{name, model, options}`` entry; ``where`` names it in errors."""
    registry = registry_of(context)
    registration = registry.get("judges", member["name"])
    options = dict(member.get("options") or {})
    if registration.options_schema:
        problems = schema_problems(
            options, registration.options_schema, None, prefix=(*where.split("."), "options")
        )
        if problems:
            raise RlaifError(f"invalid options for member judge '{member['name']}'", problems)
    return registration.factory(options, MemberContext(context, member.get("model")))
