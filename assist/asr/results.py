"""Pure parsing of recogniser output into words and hypotheses (no engine needed to test)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from assist.asr.engine import Hypothesis, Kind
from assist.core.events import Word

# Tokens that are not words: Vosk's "[unk]"/"<unk>" and noise classes such as "[2]",
# PocketSphinx's "<s>", "<sil>", "[NOISE]".
_NON_WORD = re.compile(r"^(\[.*\]|<.*>)$")
_VARIANT = re.compile(r"\(\d+\)$")  # PocketSphinx pronunciation variants: "the(2)"


def clean_token(token: str) -> str | None:
    """The word as users should see it, or None for silence/noise/unknown tokens."""
    token = _VARIANT.sub("", token.strip())
    if not token or _NON_WORD.match(token) or not any(ch.isalnum() for ch in token):
        return None
    return token


def join_words(words: Iterable[str]) -> str:
    return " ".join(words)


def parse_vosk(raw: str, kind: Kind, offset_s: float = 0.0) -> Hypothesis | None:
    """A Vosk Result/PartialResult/FinalResult JSON string -> Hypothesis (None if empty).

    `offset_s` is subtracted from Vosk's word times: Vosk keeps counting time across
    `Reset()`, and the recogniser reports times since its own last reset.
    """
    try:
        doc: dict[str, Any] = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"recogniser returned invalid JSON: {exc}") from None
    key = "partial" if kind == "partial" else "text"
    items = doc.get("partial_result" if kind == "partial" else "result") or []
    words: list[Word] = []
    for item in items:
        w = clean_token(str(item.get("word", "")))
        if w is None:
            continue
        conf = item.get("conf")
        words.append(
            Word(
                w=w,
                start=round(max(0.0, float(item["start"]) - offset_s), 3),
                end=round(max(0.0, float(item["end"]) - offset_s), 3),
                conf=None if conf is None else round(float(conf), 3),
            )
        )
    if words:
        text = join_words(w.w for w in words)
    else:
        text = join_words(t for t in (clean_token(x) for x in str(doc.get(key, "")).split()) if t)
    if not text:
        return None
    return Hypothesis(kind=kind, text=text, words=tuple(words))
