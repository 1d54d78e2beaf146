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
import unicodedata
import warnings
from collections.abc import Iterable

import cn2an  # imported with the core, not at a call's first number: ~0.15 s on the frame thread
from rapidfuzz.distance import Levenshtein
from text_to_num import alpha2digit

from assist.core.phrases import cjk_chars, is_cjk

DEFAULT_MIN_DIGITS = 2
_ZEROS = {"oh", "o", "zero", "nought"}
# Whisper writes digits said one by one with dots between ("one one eight" -> "1.1.8")
_DOTTED = re.compile(r"\b\d(?:\.\d){2,}(?!\.?\d)")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z']+", re.UNICODE)


# Words with 一 that are not numbers: kept away from cn2an ("一共" is not "1共")
_NOT_NUMBERS = (
    "一下",
    "一共",
    "一起",
    "一样",
    "一直",
    "一定",
    "一些",
    "一般",
    "一切",
    "一会",
    "一边",
    "统一",
    "万一",
    "唯一",
    "一旦",
)
_HIDE = {w: chr(0xE000 + i) for i, w in enumerate(_NOT_NUMBERS)}  # private-use stand-ins
_DECIMAL = re.compile(r"(?<=\d)[.．](?=\d)")
_DIGIT_POINT = re.compile(r"(?<=\d)点(?=\d)")


def _zh_chars(text: str) -> str:
    """Chinese text for cn2an: full-width digits folded, spaces and punctuation gone (so a
    number read in groups, "幺三九，一二三四", stays one), a decimal point between digits kept
    as 点 (Whisper writes 12.5元)."""
    text = unicodedata.normalize("NFKC", text)
    text = _DECIMAL.sub("点", text)
    return cjk_chars(text)


def to_digits(text: str, lang: str) -> str:
    """`text` with every number written in digits (zh: 一二三, 幺, 两, 十/百/千/万, mixed
    with digits, all through cn2an)."""
    if lang == "zh" or is_cjk(text):
        chars = _zh_chars(text)
        for word, mark in _HIDE.items():
            chars = chars.replace(word, mark)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = str(cn2an.transform(chars, "cn2an"))
            except (ValueError, KeyError):  # cn2an rejects some odd strings: keep them as is
                out = chars
        for word, mark in _HIDE.items():
            out = out.replace(mark, word)
        return _DIGIT_POINT.sub(".", out)  # 320点5 (digits cn2an left alone) -> 320.5
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


def read_back(number: str, said: Iterable[str], *, digits_per_edit: int = 0) -> bool:
    """Whether `number` appears in what the other side said (their numbers, in any grouping).

    Both sides come from a recogniser, which gets a digit wrong now and then (Whisper base
    hears Mandarin 七 as 去, 是 as 1). With `digits_per_edit` n > 0, a number said with at most
    one edit (a digit wrong, missing or extra) per n digits also counts: a reminder to read back
    is for numbers never read back, not a check of the recogniser. 0: exact.
    """
    said = list(said)
    if any(number == s or number in s for s in said) or number in "".join(said):
        return True
    slack = len(number) // digits_per_edit if digits_per_edit > 0 else 0
    if not slack:
        return False
    runs = ("".join(said[i:j]) for i in range(len(said)) for j in range(i + 1, len(said) + 1))
    return any(Levenshtein.distance(number, run, score_cutoff=slack) <= slack for run in runs)
