"""Where rlaif keeps things on disk: the user cache and the files shipped with the package."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def rlaif_home() -> Path:
    """``$RLAIF_HOME``, else ``$XDG_CACHE_HOME/rlaif``, else ``~/.cache/rlaif``: caches (e.g. the embedded model)."""
    if os.environ.get("RLAIF_HOME"):
        return Path(os.environ["RLAIF_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rlaif"


def shipped_dir(kind: str) -> Path:
    """A folder shipped with rlaif (``constitutions`` or ``examples``).

    Wheels carry them under ``rlaif/_shipped/``; an editable install reads them from the repository root.
    """
    for candidate in (_PACKAGE_DIR / "_shipped" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"rlaif's shipped '{kind}' folder is missing from this installation")
