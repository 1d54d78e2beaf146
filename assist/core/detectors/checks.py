"""Checks detectors run on their params at load time, shared by every detector family."""

from __future__ import annotations

from typing import Any


def require_speaker(value: Any, key: str = "speaker") -> None:
    if value not in ("agent", "customer"):
        raise ValueError(f"{key} must be 'agent' or 'customer'")


def require_positive(p: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if p[key] <= 0:
            raise ValueError(f"{key} must be > 0")
