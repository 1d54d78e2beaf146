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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import cast

from rapidfuzz.distance import Levenshtein
from text_to_num import alpha2digit

from assist.core.phrases import cjk_chars, is_cjk, pinyin

DEFAULT_MIN_DIGITS = 2


@cache
def _cn2an() -> ModuleType:
    import cn2an

    return cast(ModuleType, cn2an)


def load_chinese() -> None:
    """Import the Chinese text libraries (cn2an, pypinyin) now: ~0.6 s of CPU that an English
    call never spends. A Chinese call's session calls it when it is made, so its first number
    or phrase does not pay for the import on the frame thread."""
    _cn2an()
    pinyin()


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
                out = str(_cn2an().transform(chars, "cn2an"))
            except (ValueError, KeyError):  # cn2an rejects some odd strings: keep them as is
                out = chars
        for word, mark in _HIDE.items():
            out = out.replace(mark, word)
        return _DIGIT_POINT.sub(".", out)  # 320点5 (digits cn2an left alone) -> 320.5
    out = str(alpha2digit(text.lower(), "en"))
    return _DOTTED.sub(lambda m: m.group().replace(".", ""), out)  # "1.1.8" -> "118"


# Whisper writes an amount said in words with its currency sign ("two hundred and fifty
# dollars" -> "$250"): the sign is the word "dollars", context that the number was given
_CURRENCY = re.compile(r"[$£€¥￥₹]\s?\d")


def written_as_amount(text: str) -> bool:
    """Whether `text` has a number written with a currency sign before it ("$250", "¥320")."""
    return bool(_CURRENCY.search(text))


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
    return [n for n, _ in _runs(toks)]


def _runs(toks: list[str]) -> list[tuple[str, int]]:
    """(number, how many spoken pieces it was joined from) for each number in `toks`."""
    out: list[tuple[str, int]] = []
    run, pieces = "", 0
    for i, tok in enumerate(toks):
        digit_run = tok.isdigit() and len(tok) <= 4  # groups like "4729 183" too
        last = i + 1 == len(toks)
        zero = tok in _ZEROS and run and (last or toks[i + 1][:1].isdigit())
        if digit_run or zero:
            run += "0" if zero else tok
            pieces += 1
            continue
        if run:
            out.append((run, pieces))
            run, pieces = "", 0
        if tok[:1].isdigit():
            out.append((tok.replace(",", ""), 1))
    if run:
        out.append((run, pieces))
    return out


# Chinese digits said one by one (no 十/百/千/万 between them): 四七二九, 幺三九
_ZH_DIGIT_RUN = re.compile(r"[零〇幺一二两三四五六七八九]{3,}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A number heard in a transcript, with what speaks for it being a number someone gave:
    `run` (said digit by digit, three or more pieces), `conf` (the lowest recogniser confidence
    of the words it came from; None when the engine gives none), `uncertain` (digit groups the
    recogniser was unsure of, to mark when showing it). Context words are the detector's."""

    digits: str
    run: bool = False
    conf: float | None = None
    uncertain: tuple[str, ...] = ()


def candidates(
    text: str,
    lang: str,
    *,
    min_digits: int = DEFAULT_MIN_DIGITS,
    words: Sequence[tuple[str, float | None]] = (),
    unsure_below: float = 0.0,
) -> list[Candidate]:
    """The numbers of `text` (as `extract`) with their evidence; `words` are the transcript's
    (word, confidence) pairs, if the engine gave them."""
    zh = lang == "zh" or is_cjk(text)
    if zh:
        found = [(n, 1) for n in re.findall(r"\d+(?:\.\d+)?", to_digits(text, lang))]
        runs = {to_digits(r, "zh") for r in _ZH_DIGIT_RUN.findall(_zh_chars(text))}
        found = [(n, 3 if n in runs else 1) for n, _ in found]
    else:
        found = _runs(_TOKEN.findall(to_digits(text, lang).lower()))
    per_word = []
    for w, conf in words:
        got = "".join(extract(w, lang, min_digits=1))
        if got and conf is not None:
            per_word.append((got, conf))
    out = []
    for n, pieces in found:
        if sum(c.isdigit() for c in n) < min_digits:
            continue
        mine = [(d, c) for d, c in per_word if d in n]
        out.append(
            Candidate(
                n,
                run=pieces >= 3,
                conf=min((c for _, c in mine), default=None),
                uncertain=tuple(d for d, c in mine if c < unsure_below),
            )
        )
    return out


def given(c: Candidate, *, context: bool, min_conf: float = 0.0, min_digits_alone: int = 0) -> bool:
    """Whether a candidate is a number its speaker gave (docs/rules.md, "A number the customer
    gave"): `context` near it (a context phrase in its utterance or in the question before, a
    currency sign), or, heard with confidence `min_conf` or more, said digit by digit or at
    least `min_digits_alone` digits long. The rule and the checklist both judge by it."""
    sure = c.conf is None or c.conf >= min_conf
    enough = sum(ch.isdigit() for ch in c.digits) >= min_digits_alone
    return context or (sure and (c.run or enough))


def given_in(
    text: str,
    before: str,
    lang: str,
    *,
    mentions: Callable[[str], bool] | None,
    words: Sequence[tuple[str, float | None]] = (),
    min_digits: int = DEFAULT_MIN_DIGITS,
    unsure_below: float = 0.0,
    min_conf: float = 0.0,
    min_digits_alone: int = 0,
) -> list[Candidate]:
    """The numbers a speaker gave in `text` (see `given`). Context is `mentions` (the caller's
    phrase match against its context list; None when it has none) in `text` or in `before`,
    the other side's utterance before it ("what's your phone number?"), or a currency sign.
    The `confirm_numbers` rule and the live checklist both judge numbers by it."""
    found = candidates(text, lang, min_digits=min_digits, words=words, unsure_below=unsure_below)
    if not found:
        return []
    context = mentions is not None and (
        mentions(text) or mentions(before) or written_as_amount(text)
    )
    return [
        c
        for c in found
        if given(c, context=context, min_conf=min_conf, min_digits_alone=min_digits_alone)
    ]


def shown(c: Candidate) -> str:
    """The number as heard, digits the recogniser was unsure of in brackets ("47[2]9183")."""
    mark = [False] * len(c.digits)
    for frag in c.uncertain:
        i = c.digits.find(frag)
        if i >= 0:
            mark[i : i + len(frag)] = [True] * len(frag)
    out, i = [], 0
    while i < len(c.digits):
        if not mark[i]:
            out.append(c.digits[i])
            i += 1
            continue
        j = i
        while j < len(c.digits) and mark[j]:
            j += 1
        out.append(f"[{c.digits[i:j]}]")
        i = j
    return "".join(out)


def read_back(number: str, said: Iterable[str], *, digits_per_edit: int = 0) -> bool:
    """Whether `number` appears in what the other side said (their numbers, in any grouping).

    The read-back match rule (docs/rules.md): the agent's numbers are joined in the order said,
    any consecutive run of them, and a run matches when it contains `number` or is within
    len(number) / `digits_per_edit` edits of it (`readback_cost`: a digit wrong, or two
    swapped, is an edit each; a digit lost or doubled on one side half of one). Both sides
    come from a recogniser, which on a phone line loses one of a run of repeated digits
    ("5 5 2 3 0 1" for 5552301) or gets one wrong (Whisper base hears Mandarin 七 as 去,
    "4129183" for 4729183): a reminder to read back is for numbers never read back, not a
    check of the recogniser. 0: exact; a number shorter than `digits_per_edit` digits must be
    exact.
    """
    said = list(said)
    if any(number == s or number in s for s in said) or number in "".join(said):
        return True
    if digits_per_edit <= 0 or len(number) < digits_per_edit:
        return False
    allowed = len(number) / digits_per_edit
    runs = ("".join(said[i:j]) for i in range(len(said)) for j in range(i + 1, len(said) + 1))
    return any(readback_cost(number, run, digits_per_edit) <= allowed for run in runs)


def readback_cost(number: str, heard: str, digits_per_edit: int) -> float:
    """Edits between a number and its read-back as heard: the edit distance, less half an edit
    for each digit by which their lengths differ, up to one per `digits_per_edit` digits of
    `number`. A digit only one side heard (a recogniser lost or doubled it: the count changes)
    costs 1/2; a digit heard differently in its place, or two swapped, costs 1 each: that is
    what a wrong read-back does, and a recogniser seldom. More digits missing is a read-back
    left half done ("6283" for 62835914), at full price."""
    lost = min(abs(len(number) - len(heard)), len(number) // digits_per_edit)
    return Levenshtein.distance(number, heard) - lost / 2
