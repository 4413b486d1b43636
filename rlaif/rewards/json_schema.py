"""``json-schema``: the completion is JSON (optionally inside a ```json fence) valid against a schema."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

from rlaif.errors import RlaifError
from rlaif.options import option
from rlaif.rewards.base import Outcome, RowReward, failed, passed


@dataclass(kw_only=True)
class JsonSchemaOptions:
    """Options of the json-schema reward."""

    schema: dict[str, Any] = option(help="JSON Schema the parsed output must satisfy")
    extract: Literal["strict", "fenced"] = option(
        "fenced",
        "strict: the whole completion is the JSON document; fenced: also accept the "
        "first ```json fenced block, or the outermost {...} / [...] span",
    )


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def candidate_documents(text: str, extract: str) -> list[str]:
    """Substrings to try parsing, most specific first."""
    candidates = [text.strip()]
    if extract == "fenced":
        candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
        for open_, close in ("{}", "[]"):
            start, end = text.find(open_), text.rfind(close)
            if 0 <= start < end:
                candidates.append(text[start : end + 1])
    return candidates


class JsonSchemaReward(RowReward):
    """1 if the output parses as JSON and validates against ``schema``, else 0."""

    name = "json-schema"

    def __init__(self, schema: dict[str, Any], extract: str = "fenced"):
        try:
            validator_cls = jsonschema.validators.validator_for(schema)
            validator_cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise RlaifError(f"reward 'json-schema': the schema itself is invalid: {exc.message}") from None
        self.validator = validator_cls(schema)
        self.extract = extract

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        parsed_any = False
        first_error = "no JSON document found"
        for candidate in candidate_documents(text, self.extract):
            try:
                document = json.loads(candidate)
            except json.JSONDecodeError as exc:
                if not parsed_any:
                    first_error = f"not JSON: {exc.msg} at char {exc.pos}"
                continue
            error = jsonschema.exceptions.best_match(self.validator.iter_errors(document))
            if error is None:
                return passed("valid")
            if not parsed_any:
                path = "/".join(str(p) for p in error.absolute_path)
                first_error = f"schema violation at '/{path}': {error.message}"
            parsed_any = True
        return failed(first_error)


def make_json_schema(options: dict[str, Any]) -> JsonSchemaReward:
    """The completion must be JSON that validates against a schema."""
    return JsonSchemaReward(**options)
