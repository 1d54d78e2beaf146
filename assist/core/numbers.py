"""Numbers in transcripts: account and phone digits, amounts, dates, as digit strings.

English number words go through text2num ("four seven two" -> "4 7 2", "twenty five" -> 25,
"fourth" -> 4th -> 4); Whisper's ways of writing them are folded too ("4th" -> 4, "1.1.8" ->
118),
Chinese numerals through cn2an (四七二九 -> 4729, 一百二十五 -> 125, 幺 = 1). Digits spoken one
at a time are joined into one number, so an account number read out digit by digit and the
same number read back in groups compare equal.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable

from assist.core.phrases import cjk_chars, is_cjk

DEFAULT_MIN_DIGITS = 2
_ZEROS = {"oh", "o", "zero", "nought"}
# Whisper writes digits said one by one with dots between ("one one eight" -> "1.1.8")
_DOTTED = re.compile(r"\b\d(?:\.\d){2,}(?!\.?\d)")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z']+", re.UNICODE)


def to_digits(text: str, lang: str) -> str:
    """`text` with every number written in digits."""
    if lang == "zh" or is_cjk(text):
        import cn2an

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return str(cn2an.transform(cjk_chars(text), "cn2an"))
            except (ValueError, KeyError):  # cn2an rejects some odd strings: keep them as is
                return cjk_chars(text)
    from text_to_num import alpha2digit

    out = str(alpha2digit(text.lower(), "en"))
    return _DOTTED.sub(lambda m: m.group().replace(".", ""), out)  # "1.1.8" -> "118"


def extract(text: str, lang: str, *, min_digits: int = DEFAULT_MIN_DIGITS) -> list[str]:
    """The numbers said in `text`, as digit strings ("4729183", "25", "12.50"), in order."""
    converted = to_digits(text, lang)
    if lang == "zh" or is_cjk(text):
        found = re.findall(r"\d+(?:\.\d+)?", converted)
    else:
        found = _join_runs(_TOKEN.findall(converted.lower()))
    return [n for n in found if sum(c.isdigit() for c in n) >= min_digits]


def _join_runs(toks: list[str]) -> list[str]:
    """Join digits said one by one ("4 7 2 oh 9" -> "47209"); "oh" is 0 between digits and
    after them at the end ("2 9 3 4 oh")."""
    out: list[str] = []
    run = ""
    for i, tok in enumerate(toks):
        digit_run = tok.isdigit() and len(tok) <= 4  # groups like "4729 183" too
        last = i + 1 == len(toks)
        zero = tok in _ZEROS and run and (last or toks[i + 1][:1].isdigit())
        if digit_run or zero:
            run += "0" if zero else tok
            continue
        if run:
            out.append(run)
            run = ""
        if tok[:1].isdigit():
            out.append(tok.replace(",", ""))
    if run:
        out.append(run)
    return out


def read_back(number: str, said: Iterable[str]) -> bool:
    """Whether `number` appears in what the other side said (their numbers, in any grouping)."""
    said = list(said)
    return any(number == s or number in s for s in said) or number in "".join(said)
