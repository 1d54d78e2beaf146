"""Config files: one TOML file per command, read here; its tables are declared where they are
used (`assist.core.tables`): `[sip]` in sip/config.py, `[srs]` in sip/srs_config.py, `[fleet]`
in fleet/config.py, `[overlay]` in overlay/auth.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from assist.core.errors import ConfigError


def file_problem(value: str) -> str | None:
    """A table key's check (`assist.core.tables`) of a file it names: empty (not set) or an
    existing file."""
    return None if not value or Path(value).is_file() else "no such file"


def read_config(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML config file; an unreadable file or bad TOML is a ConfigError
    naming the file."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config ({exc.strerror})", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=path) from None
