"""One error type for everything a user can fix: a bad file, an unknown name, an impossible setting.

The CLI prints these as a short paragraph and exits with code 2 -- never a traceback. Library callers catch
:class:`RlaifError` and read ``problems`` for structured detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input: where (file, line or field path) and what was expected."""

    message: str
    file: str | None = None
    where: str | None = None
    """A field path like ``principles[2].critique`` or ``line 14``."""

    def __str__(self) -> str:
        location = ": ".join(part for part in (self.file, self.where) if part)
        return f"{location}: {self.message}" if location else self.message


class RlaifError(Exception):
    """An error the user can act on. ``str(error)`` is the full, human-readable explanation."""

    exit_code = 2

    def __init__(self, message: str, problems: Sequence[Problem] = (), hint: str | None = None):
        self.message = message
        self.problems = list(problems)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.message]
        lines.extend(f"  - {problem}" for problem in self.problems)
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)


def closest(name: str, choices: Sequence[str]) -> str | None:
    """The most similar known name, for "did you mean" hints."""
    import difflib

    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name_error(
    kind: str, name: str, available: Sequence[str], source: str | None = None
) -> RlaifError:
    """``unknown judge 'pairwize' (did you mean 'pairwise'?); available: pairwise, score``."""
    suggestion = closest(name, available)
    hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
    where = f"{source}: " if source else ""
    listing = ", ".join(sorted(available)) or "none installed"
    return RlaifError(f"{where}unknown {kind} '{name}'{hint}; available: {listing}")
