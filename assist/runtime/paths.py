"""Per-user folders, as the XDG base directory spec places them.

One place for the rule, so the call store and fetched models agree on where a user's data
lives. A relative XDG_* value is ignored, as the spec says.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "softphone-assist"


def data_home() -> Path:
    """$XDG_DATA_HOME/softphone-assist, else ~/.local/share/softphone-assist."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / APP
