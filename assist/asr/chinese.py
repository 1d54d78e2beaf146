"""Chinese transcripts in simplified characters, whatever script Whisper chose.

Whisper's `zh` covers both scripts and often answers in traditional characters (這裡, 請問) even
for Mandarin from the mainland. A prompt in simplified Chinese tilts it towards simplified but
also changes the words it hears (measured in benchmarks/zh.py: more errors, digits dropped), so
the text is converted instead: OpenCC's `t2s` tables (phrase-aware, a C++ wheel, ~3 µs per
sentence), once per final.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_converter: Any = None


def simplified(text: str) -> str:
    """`text` with traditional characters converted to simplified ones (OpenCC t2s)."""
    global _converter
    if not text:
        return text
    if _converter is None:
        with _lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    with _lock:  # the binding's thread-safety is not documented; a convert is microseconds
        return str(_converter.convert(text))
