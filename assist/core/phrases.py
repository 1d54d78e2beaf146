"""Fuzzy phrase matching that survives ASR errors ("ridiculus", "complain", 投拆).

English is matched word by word: a window of as many words as the phrase is compared with the
phrase by edit-distance similarity (rapidfuzz, in C), so one wrong letter or a dropped plural
still matches while short words ("no", "but") must match exactly. `mask` hides exceptions
("no problem") before matching. Chinese is matched character by character and by sound:
a recogniser that writes a homophone (客服 heard as 克服, 投诉 as 头素) still matches, since the
toned pinyin (pypinyin, pure Python, readings chosen in context) is the same; in phrases of
four characters or more one character may differ in both. A part of a phrase in brackets
is required: fuzziness never forgives it ("[还]有什么可以帮您" is not "请问有什么可以帮您",
"anything [else]" is not "anything less"); it must be heard as written, or by sound in
Chinese. English may be matched by sound too, where a detector asks for it (`by_sound`: a
company's name, which no recogniser's vocabulary knows): words are compared by `sound_key`,
their spelling reduced to the consonants a phone line keeps apart ("bangs" ~ "bank"). The
phrase lists themselves are data in the rule packs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from types import ModuleType

from rapidfuzz.distance import Levenshtein

DEFAULT_MIN_RATIO = 0.84
# A wrong character (not a homophone) is forgiven only in phrases this long: in three
# characters one wrong one is too much ("很满意" is not "不满意")
MIN_CHARS_FOR_A_WRONG_ONE = 4
SOUND_PENALTY = 0.05  # a match by sound only scores a little under the same match by writing
EXACT_BELOW = 4  # phrases shorter than this (letters) must match exactly
SUGGESTION_SEP = "=>"

_WORD = re.compile(r"[\w']+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class Match:
    phrase: str  # the phrase from the list
    heard: str  # what the transcript said
    score: float  # similarity 0..1 (1 = exact)
    position: int  # index of the first matching token/character


@dataclass(frozen=True, slots=True)
class Phrase:
    """A phrase list entry: "policy => What I can do is..." carries a suggestion, and
    "anything [else]" a required part (`required`: the bracketed parts, without brackets)."""

    text: str
    suggestion: str = ""
    required: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entry: str) -> Phrase:
        return _parse(entry)


_REQUIRED = re.compile(r"\[([^\[\]]*)\]")


@lru_cache(maxsize=1024)
def _parse(entry: str) -> Phrase:
    raw, _, suggestion = entry.partition(SUGGESTION_SEP)
    required = tuple(r.strip() for r in _REQUIRED.findall(raw))
    text = _REQUIRED.sub(lambda m: m.group(1), raw).strip()
    if not text:
        raise ValueError(f"empty phrase in {entry!r}")
    if "[" in text or "]" in text or any(not r for r in required):
        raise ValueError(f"unbalanced or empty [required part] in {entry!r}")
    return Phrase(text, suggestion.strip(), required)


def _required_positions(phrase: Phrase, units: list[str]) -> tuple[int, ...]:
    """Indexes into `units` (the phrase's words, or its characters) of its required parts."""
    out: list[int] = []
    for part in phrase.required:
        want = list(cjk_chars(part)) if is_cjk(part) else tokens(part)
        for i in range(len(units) - len(want) + 1):
            if units[i : i + len(want)] == want:
                out += range(i, i + len(want))
                break
    return tuple(out)


def is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def tokens(text: str) -> list[str]:
    """Lower-case words; curly apostrophes folded so "can’t" == "can't"."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def cjk_chars(text: str) -> str:
    """Chinese text without spaces or punctuation (Vosk zh models space their words)."""
    return "".join(ch for ch in text if ch.isalnum()).lower()


# English spelling reduced to what a phone line (300-3400 Hz) lets a recogniser tell apart:
# voicing of stops and fricatives (g/k, d/t, b/p, z/s, v/f: the cues are low and short) and
# the spellings of one sound (c/k/q/ck, ph/f, x/ks); doubled letters are one. Vowels stay:
# they carry the most energy and are heard best ("bunk" is not "bank").
_SOUND_RULES = tuple(
    (re.compile(a), b)
    for a, b in (
        ("ph", "f"),
        ("ck", "k"),
        ("q", "k"),
        ("x", "ks"),
        ("c(?=[eiy])", "s"),
        ("c", "k"),
        ("g", "k"),
        ("d", "t"),
        ("b", "p"),
        ("v", "f"),
        ("z", "s"),
        (r"(.)\1+", r"\1"),
    )
)
_NOT_PLURAL = ("ss", "us", "is")  # "boss", "bus", "this": the s is the word's own


@lru_cache(maxsize=4096)
def sound_key(word: str) -> str:
    """An English word's rough sound from its spelling: "bangs", "banks", "bank's" and "bank"
    all give "pank" (a plural or possessive s dropped, g/k and b/p merged), "tank" and "bunk"
    do not. Not a pronunciation: a key for matching names a recogniser wrote by ear."""
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = "".join(ch for ch in w if "a" <= ch <= "z")
    if len(w) > 3 and w.endswith("s") and not w.endswith(_NOT_PLURAL):
        w = w[:-1]
    for pattern, repl in _SOUND_RULES:
        w = pattern.sub(repl, w)
    return w


def similarity(a: str, b: str) -> float:
    """1 - normalised Levenshtein distance (rapidfuzz's C implementation: matching runs on
    the runner thread for every transcript, so it must stay well under a frame's 20 ms)."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return float(Levenshtein.normalized_similarity(a, b))


def mask(text: str, phrases: Iterable[str], *, min_ratio: float = DEFAULT_MIN_RATIO) -> str:
    """`text` as tokens with every occurrence of `phrases` replaced by "_": what is left can be
    matched without the exceptions ("no problem", "but of course" hide their "no"/"but")."""
    toks = tokens(text)
    hidden = [False] * len(toks)
    for entry in phrases:
        want = tokens(Phrase.parse(entry).text)
        n = len(want)
        for i in range(len(toks) - n + 1):
            if _window_score(toks, i, want, min_ratio) >= 0:
                hidden[i : i + n] = [True] * n
    return " ".join("_" if h else t for t, h in zip(toks, hidden, strict=True))


def _window_score(toks: list[str], i: int, want: list[str], min_ratio: float) -> float:
    """Similarity of toks[i:i+len(want)] to `want`, or -1 below the bar (exact when short)."""
    target = " ".join(want)
    heard = " ".join(toks[i : i + len(want)])
    if len(target.replace(" ", "")) < EXACT_BELOW:
        return 1.0 if heard == target else -1.0
    score = similarity(heard, target)
    return score if score >= min_ratio else -1.0


def find(
    text: str,
    phrases: Iterable[str],
    *,
    min_ratio: float = DEFAULT_MIN_RATIO,
    by_sound: bool = False,
) -> list[Match]:
    """Every phrase of `phrases` heard in `text`, best match per phrase, in text order.
    `by_sound`: English words may also match by `sound_key` (scored `SOUND_PENALTY` under
    the same match by writing); Chinese always matches by sound."""
    out: list[Match] = []
    toks = tokens(text)
    chars = cjk_chars(text)
    for entry in phrases:
        parsed = Phrase.parse(entry)
        phrase = parsed.text
        if is_cjk(phrase):
            m = _find_cjk(chars, phrase, _required_positions(parsed, list(cjk_chars(phrase))))
        else:
            required = _required_positions(parsed, tokens(phrase))
            m = _find_words(toks, phrase, min_ratio, required, by_sound=by_sound)
        if m is not None:
            out.append(m)
    return sorted(out, key=lambda m: m.position)


def _has_required(
    heard: list[str], want: list[str], required: tuple[int, ...], by_sound: bool = False
) -> bool:
    """Every required word of the phrase is a word heard in the window, exactly (or inside a
    word the recogniser glued to its neighbour: "anythingelse"; or, `by_sound`, a word with
    the same `sound_key`)."""
    return all(
        any(
            tok == want[k]
            or (len(tok) > len(want[k]) + 2 and want[k] in tok)
            or (by_sound and sound_key(tok) == sound_key(want[k]))
            for tok in heard
        )
        for k in required
    )


def _sound_score(heard: list[str], want: list[str], exact: bool) -> float:
    """Similarity of two word windows by `sound_key`, less `SOUND_PENALTY`; a short phrase's
    keys must be equal."""
    a = " ".join(sound_key(w) for w in heard)
    b = " ".join(sound_key(w) for w in want)
    sim = 1.0 if a == b else (0.0 if exact else similarity(a, b))
    return sim - SOUND_PENALTY


def _find_words(
    toks: list[str],
    phrase: str,
    min_ratio: float,
    required: tuple[int, ...] = (),
    *,
    by_sound: bool = False,
) -> Match | None:
    want = tokens(phrase)
    if not want or len(toks) < len(want):
        return None
    target = " ".join(want)
    exact = len(target.replace(" ", "")) < EXACT_BELOW
    best: Match | None = None
    n = len(want)
    for i in range(len(toks) - n + 1):
        heard = " ".join(toks[i : i + n])
        if exact:
            score = 1.0 if heard == target else 0.0
        else:
            score = similarity(heard, target)
            # a word glued to the next or split in two by the recogniser
            for k in (n - 1, n + 1):
                if k > 0 and i + k <= len(toks):
                    alt = " ".join(toks[i : i + k])
                    score = max(score, similarity(alt.replace(" ", ""), target.replace(" ", "")))
        ok = score >= (1.0 if exact else min_ratio)
        if by_sound and not ok:  # heard by ear: the same sound, another spelling
            by_ear = _sound_score(toks[i : i + n], want, exact)
            ok = by_ear + SOUND_PENALTY >= (1.0 if exact else min_ratio)
            score = by_ear if ok else score
        if required and not _has_required(toks[i : i + n + 1], want, required, by_sound):
            continue
        if ok and (best is None or score > best.score):
            best = Match(phrase, heard, round(score, 3), i)
    return best


def _each_char(run: str) -> list[str]:
    """A run of non-Chinese characters stands for itself, one item per character."""
    return list(run)


@cache
def pinyin() -> ModuleType:
    """pypinyin, imported on first use (~0.5 s of CPU and 30 MB of tables an English call never
    needs); a Chinese call's session imports it before its first frame (numbers.load_chinese)."""
    import pypinyin

    return pypinyin


@lru_cache(maxsize=512)
def sounds(chars: str) -> tuple[str, ...]:
    """Toned pinyin of each character of `chars` ("投诉" -> ("tou2", "su4")); anything that is
    not a Chinese character stands for itself. Readings are chosen in context (银行 hang2,
    不行 xing2). Cached: several rules look at the same transcript."""
    p = pinyin()
    toned = p.lazy_pinyin(
        chars, style=p.Style.TONE3, errors=_each_char, neutral_tone_with_five=True
    )
    return tuple(toned)


def _find_cjk(chars: str, phrase: str, required: tuple[int, ...] = ()) -> Match | None:
    want = cjk_chars(phrase)
    if not want:
        return None
    i = chars.find(want)
    if i >= 0:
        return Match(phrase, want, 1.0, i)
    n = len(want)
    if len(chars) < n:
        return None
    heard, said = sounds(chars), sounds(want)
    if len(heard) != len(chars):  # never expected: the pinyin must line up with the characters
        return None
    allowed = 1 if n >= MIN_CHARS_FOR_A_WRONG_ONE else 0
    best: Match | None = None
    for i in range(len(chars) - n + 1):
        window = chars[i : i + n]
        wrong = by_sound = 0
        for k in range(n):
            if window[k] == want[k]:
                continue
            if heard[i + k] == said[k]:
                by_sound += 1
            elif k in required:  # the word that carries the meaning is never forgiven
                wrong = allowed + 1
            else:
                wrong += 1
            if wrong > allowed:
                break
        if wrong > allowed:
            continue
        score = round(1 - wrong / n - (SOUND_PENALTY if by_sound else 0.0), 3)
        if best is None or score > best.score:
            best = Match(phrase, window, score, i)
    return best
