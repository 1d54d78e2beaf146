"""Rule packs from files: the built-in packs shipped in `assist/rules/` and a user's own TOML."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from assist.core.errors import RulePackError
from assist.core.pack import RulePack
from assist.core.rules import parse_pack

PACK_DIR = "rules"
LANGS = ("en", "zh")


def load_pack(path: str | Path) -> RulePack:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulePackError(p, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulePackError(p, f"cannot read: {exc}") from None
    return parse_pack(text, str(p))


def default_pack(lang: str) -> RulePack:
    if lang not in LANGS:
        raise RulePackError(f"<{lang}>", f"no built-in rule pack for language {lang!r}")
    text = resources.files("assist").joinpath(PACK_DIR, f"{lang}.toml").read_text("utf-8")
    return parse_pack(text, f"assist/rules/{lang}.toml")
