"""Word cues over transcripts: phrases said, the closing checklist, hold reasons, greeting.

Mechanisms only: which phrase lists to use, who must say them and every threshold come from
the rule's params and the pack's `[phrases]` table. Word cues are momentary, so their rules use
`clears = false` with a `ttl_s`. Partials drive them for low latency; each cue fires once per
utterance (counted per speaker), whether it shows up in partials or the final.
"""

from __future__ import annotations

from typing import Any

from assist.core import numbers, phrases
from assist.core.context import Context
from assist.core.detector import Condition, Detector
from assist.core.events import Speaker, Transcript
from assist.core.pack import RulePack

_SPEAKERS = ("agent", "customer")


def _lists(pack: RulePack, names: str) -> tuple[str, ...]:
    """Phrases of the comma-separated phrase list names; unknown or empty lists are errors."""
    out: list[str] = []
    for name in (n.strip() for n in names.split(",")):
        if name not in pack.phrases:
            raise ValueError(f"no phrase list [phrases].{name} in the pack")
        entries = pack.phrase_list(name)
        for e in entries:
            phrases.Phrase.parse(e)
        out += entries
    if not out:
        raise ValueError(f"phrase lists {names!r} are empty")
    return tuple(out)


def _utterance(ctx: Context, t: Transcript) -> int:
    """Index of `t`'s utterance among its speaker's: partials belong to the utterance whose
    final has not come yet, and the final (already in `ctx.finals`) to the same one."""
    n = sum(1 for f in ctx.finals if f.speaker == t.speaker)
    return n - 1 if t.kind == "final" and any(f is t for f in ctx.finals) else n


class _WordDetector(Detector):
    """Shared: speaker check, min_ratio, and fire-once-per-utterance bookkeeping."""

    base_params: dict[str, tuple[Any, Any]] = {
        "speaker": (str, None),
        "min_ratio": ((int, float), phrases.DEFAULT_MIN_RATIO),
        "final_only": (bool, False),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.p["speaker"] not in _SPEAKERS:
            raise ValueError("speaker must be 'agent' or 'customer'")
        if not 0 < self.p["min_ratio"] <= 1:
            raise ValueError("min_ratio must be in (0, 1]")
        self._done: set[tuple[int, str]] = set()

    def mine(self, ctx: Context) -> list[Transcript]:
        return [
            t
            for t in ctx.new_transcripts
            if t.speaker == self.p["speaker"] and (t.kind == "final" or not self.p["final_only"])
        ]

    def once(self, ctx: Context, t: Transcript, what: str) -> bool:
        key = (_utterance(ctx, t), what)
        if key in self._done:
            return False
        self._done.add(key)
        return True

    def first_turn(self, ctx: Context, t: Transcript) -> bool:
        """Whether `t` is its speaker's first utterance (a greeting is not a closing)."""
        return _utterance(ctx, t) == 0

    def find(
        self, text: str, entries: tuple[str, ...], *, by_sound: bool = False
    ) -> list[phrases.Match]:
        return phrases.find(text, entries, min_ratio=self.p["min_ratio"], by_sound=by_sound)


class PhraseSaid(_WordDetector):
    """`speaker` said a phrase of the `phrases` lists (negative_phrase, agent_wording), outside
    any phrase of the `unless` lists (exceptions: "no problem", "you must be frustrated").

    An entry "phrase => suggestion" puts the suggestion in the prompt (`{suggestion}`); for
    entries without one, the `suggest` lists (empathy phrases for a negative moment) give it,
    each in turn, so the agent sees a new wording each time.
    """

    name = "phrase_said"
    params = {
        **_WordDetector.base_params,
        "phrases": (str, None),
        "unless": (str, ""),
        "suggest": (str, ""),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entries = _lists(self.pack, self.p["phrases"])
        self.unless = _lists(self.pack, self.p["unless"]) if self.p["unless"] else ()
        self.suggestions = {
            phrases.Phrase.parse(e).text: phrases.Phrase.parse(e).suggestion for e in self.entries
        }
        self.suggest = _lists(self.pack, self.p["suggest"]) if self.p["suggest"] else ()
        self.fired = 0

    def _suggestion(self, phrase: str) -> str:
        own = self.suggestions.get(phrase, "")
        if own or not self.suggest:
            return own
        self.fired += 1
        return self.suggest[(self.fired - 1) % len(self.suggest)]

    def check(self, ctx: Context) -> Condition | None:
        for t in self.mine(ctx):
            text = phrases.mask(t.text, self.unless, min_ratio=self.p["min_ratio"])
            for m in self.find(text if self.unless else t.text, self.entries):
                if self.once(ctx, t, m.phrase):
                    return Condition(
                        {
                            "phrase": m.phrase,
                            "heard": m.heard,
                            "score": m.score,
                            "suggestion": self._suggestion(m.phrase),
                            "speaker": t.speaker,
                        }
                    )
        return None


def _said_before(ctx: Context, speaker: str, window_s: float) -> str:
    """What `speaker` said in finals after their first turn (the greeting), within the last
    `window_s` (0 = the whole call)."""
    lo = ctx.now - window_s if window_s > 0 else float("-inf")
    theirs = [f for f in ctx.finals if f.speaker == speaker][1:]
    return " \n ".join(f.text for f in theirs if f.end is None or f.end >= lo)


class ClosingWithout(_WordDetector):
    """`speaker` said a `trigger` phrase (closing, goodbye) and no `required` phrase (anything
    else, thanks) in the last `window_s` (0 = the whole call) or earlier in that utterance.
    The speaker's first utterance never counts as closing ("thank you for calling Acme...")."""

    name = "closing_without"
    params = {
        **_WordDetector.base_params,
        "trigger": (str, None),
        "required": (str, None),
        "window_s": ((int, float), 0.0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trigger = _lists(self.pack, self.p["trigger"])
        self.required = _lists(self.pack, self.p["required"])

    def check(self, ctx: Context) -> Condition | None:
        for t in self.mine(ctx):
            hits = self.find(t.text, self.trigger)
            if not hits or self.first_turn(ctx, t):
                continue
            before = _said_before(ctx, t.speaker, self.p["window_s"]) + " \n " + t.text
            if self.find(before, self.required) or not self.once(ctx, t, "closing"):
                continue
            return Condition({"trigger": hits[0].phrase, "heard": hits[0].heard})
        return None


TURN_GAP_S = 2.0  # finals of one speaker this close, with nobody between, are one turn


def _turn_start(ctx: Context, t: Transcript) -> int:
    """Index in `ctx.finals` of the first final of `t`'s turn: the same speaker, nobody
    else's final between, each within `TURN_GAP_S` of the next (len(finals) if `t` is a
    partial with no earlier final in its turn)."""
    finals = ctx.finals
    i = next((k for k in range(len(finals) - 1, -1, -1) if finals[k] is t), len(finals))
    start = t.start
    while i > 0:
        f = finals[i - 1]
        if f.speaker != t.speaker:
            break
        if start is not None and f.end is not None and start - f.end > TURN_GAP_S:
            break
        i -= 1
        start = f.start
    return i


def _turn_text(ctx: Context, t: Transcript) -> str:
    """`t`'s text after the earlier finals of the same turn. A pause at a comma splits "没有了，
    谢谢" or "no, that's all" into two finals; a phrase said across it is still one phrase."""
    before = [f.text for f in ctx.finals[_turn_start(ctx, t) :] if f is not t]
    return " ".join([*before, t.text])


class NumbersNotReadBack(_WordDetector):
    """Closing started while numbers the other side gave were never said back by `speaker`.

    Closing starts at its earliest sign: `speaker` says a `trigger` phrase (the anything-else
    question, "thank you for calling"), or the other side says an `other_trigger` phrase ("no,
    that's all", 没有了; also said across the pause of a comma: the turn's finals are joined),
    or thanks `speaker` in reply (`other_thanks`): a turn that answers `speaker`, ends on a
    thanks phrase (at most `thanks_tail` words or characters after it: "thank you very much",
    谢谢你们了), has at most `thanks_max_words` words (zh: characters) and no number
    ("Great, thank you", 好的，谢谢): the customer takes the solution, the call's agreement
    step is over and its ending begins (the catalogue's call shape).
    A number counts as given only with evidence (`numbers.Candidate`):
    at least `min_digits`, and then a `context` phrase in its utterance or in `speaker`'s
    utterance before it ("account number", 账号), or said digit by digit, or at least
    `min_digits_alone` digits; a number whose recogniser confidence is under `min_conf`
    needs context. A yes heard as "2,000" is then no number. `digits_per_edit` n > 0
    forgives one misrecognised digit per n digits (see `numbers.read_back`); digits heard
    with confidence under `unsure_below` are shown in brackets."""

    name = "numbers_not_read_back"
    params = {
        **_WordDetector.base_params,
        "trigger": (str, None),
        "other_trigger": (str, ""),
        "other_thanks": (str, ""),
        "thanks_max_words": (int, 8),
        "thanks_tail": (int, 3),
        "context": (str, ""),
        "min_digits": (int, numbers.DEFAULT_MIN_DIGITS),
        "min_digits_alone": (int, 0),
        "min_conf": ((int, float), 0.0),
        "unsure_below": ((int, float), 0.0),
        "digits_per_edit": (int, 0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trigger = _lists(self.pack, self.p["trigger"])
        self.other_trigger = (
            _lists(self.pack, self.p["other_trigger"]) if self.p["other_trigger"] else ()
        )
        self.other_thanks = (
            _lists(self.pack, self.p["other_thanks"]) if self.p["other_thanks"] else ()
        )
        self.context = _lists(self.pack, self.p["context"]) if self.p["context"] else ()
        if self.p["thanks_max_words"] < 1:
            raise ValueError("thanks_max_words must be >= 1")
        if self.p["min_digits"] < 1:
            raise ValueError("min_digits must be >= 1")
        for key in ("digits_per_edit", "min_digits_alone", "thanks_tail"):
            if self.p[key] < 0:
                raise ValueError(f"{key} must be >= 0")
        for key in ("min_conf", "unsure_below"):
            if not 0 <= self.p[key] <= 1:
                raise ValueError(f"{key} must be in [0, 1]")

    def _numbers(self, texts: list[str]) -> list[str]:
        out: list[str] = []
        for text in texts:
            out += numbers.extract(text, self.pack.lang, min_digits=self.p["min_digits"])
        return out

    def _given(self, ctx: Context, me: str) -> list[numbers.Candidate]:
        """Numbers the other side gave, with enough evidence, first hearing of each."""
        out: dict[str, numbers.Candidate] = {}
        mine_before = ""
        for f in ctx.finals:
            if f.speaker == me:
                mine_before = f.text
                continue
            found = numbers.given_in(
                f.text,
                mine_before,
                self.pack.lang,
                mentions=(lambda s: bool(self.find(s, self.context))) if self.context else None,
                words=[(w.w, w.conf) for w in f.words],
                min_digits=self.p["min_digits"],
                unsure_below=self.p["unsure_below"],
                min_conf=self.p["min_conf"],
                min_digits_alone=self.p["min_digits_alone"],
            )
            for c in found:
                out.setdefault(c.digits, c)
        return list(out.values())

    def _closing(self, ctx: Context, t: Transcript, me: str) -> bool:
        if self.first_turn(ctx, t):
            return False
        if t.speaker == me:
            return bool(self.find(t.text, self.trigger))
        turn = _turn_text(ctx, t)
        if self.other_trigger and self.find(turn, self.other_trigger):
            return True
        return self._thanks_in_reply(ctx, t, turn, me)

    def _thanks_in_reply(self, ctx: Context, t: Transcript, turn: str, me: str) -> bool:
        """The other side's whole turn (a final) answers `me`, is short, ends on thanks and
        gives no number: they take what `me` did, so the call's ending begins."""
        if not self.other_thanks or t.kind != "final":
            return False
        first = _turn_start(ctx, t)
        if first == 0 or ctx.finals[first - 1].speaker != me:
            return False
        zh = phrases.is_cjk(turn)
        units = list(phrases.cjk_chars(turn)) if zh else phrases.tokens(turn)
        if len(units) > self.p["thanks_max_words"] or self._numbers([turn]):
            return False
        hits = self.find(turn, self.other_thanks)
        if not hits:
            return False
        last = hits[-1]
        said = len(phrases.cjk_chars(last.heard)) if zh else len(phrases.tokens(last.heard))
        return len(units) - (last.position + said) <= int(self.p["thanks_tail"])

    def check(self, ctx: Context) -> Condition | None:
        me = self.p["speaker"]
        for t in ctx.new_transcripts:
            if t.kind != "final" and self.p["final_only"]:
                continue
            if not self._closing(ctx, t, me):
                continue
            given = self._given(ctx, me)
            if not given:
                continue
            mine = [f.text for f in ctx.finals if f.speaker == me and f is not t]
            said = self._numbers(mine + ([t.text] if t.speaker == me else []))
            slack = self.p["digits_per_edit"]
            missing = [
                c for c in given if not numbers.read_back(c.digits, said, digits_per_edit=slack)
            ]
            if missing and self.once(ctx, t, f"numbers:{t.speaker}"):
                return Condition(
                    {
                        "numbers": ", ".join(numbers.shown(c) for c in missing),
                        "count": len(missing),
                        "heard": ", ".join(c.digits for c in missing),
                        "uncertain": any(c.uncertain for c in missing),
                        "closing_by": t.speaker,
                    }
                )
        return None


class FixBeforeRestate(_WordDetector):
    """After the other side complained (`complaint` phrases), `speaker` proposes a fix (`fix`
    phrases) without having restated the problem (`restate` phrases) since the complaint,
    earlier in that utterance included. Once per complaint."""

    name = "fix_before_restate"
    params = {
        **_WordDetector.base_params,
        "complaint": (str, None),
        "fix": (str, None),
        "restate": (str, None),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.complaint = _lists(self.pack, self.p["complaint"])
        self.fix = _lists(self.pack, self.p["fix"])
        self.restate = _lists(self.pack, self.p["restate"])
        self.open = False  # a complaint waits for the agent's restatement
        self.restated = False
        self.since: list[str] = []  # the agent's finals since the complaint

    def check(self, ctx: Context) -> Condition | None:
        me = self.p["speaker"]
        for t in ctx.new_transcripts:
            if t.speaker != me:
                if not self.open and self.find(t.text, self.complaint):
                    self.open, self.restated, self.since = True, False, []
                continue
            if not self.open or (t.kind != "final" and self.p["final_only"]):
                continue
            fixes = self.find(t.text, self.fix)
            said = bool(self.find(" \n ".join([*self.since, t.text]), self.restate))
            if t.kind == "final":
                self.since.append(t.text)
            if said:
                self.restated = True
            if self.restated:
                self.open = False
                continue
            if fixes:
                self.open = False
                return Condition({"phrase": fixes[0].phrase, "heard": fixes[0].heard})
        return None


class HoldWithoutReason(_WordDetector):
    """`speaker` put the customer on hold or transferred them (`hold` phrases) without a
    `reason` phrase in the same utterance. Uses finals: the reason may come after the hold."""

    name = "hold_without_reason"
    params = {**_WordDetector.base_params, "hold": (str, None), "reason": (str, None)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold = _lists(self.pack, self.p["hold"])
        self.reason = _lists(self.pack, self.p["reason"])

    def check(self, ctx: Context) -> Condition | None:
        for t in self.mine(ctx):
            hits = self.find(t.text, self.hold)
            if hits and not self.find(t.text, self.reason) and self.once(ctx, t, "hold"):
                return Condition({"phrase": hits[0].phrase, "heard": hits[0].heard})
        return None


class Greeting(_WordDetector):
    """The agent's first turn lacks a `company` phrase or a `name` phrase.

    `company_by_sound`: English company phrases also match by sound (`phrases.sound_key`):
    a brand is no word a recogniser knows, so it writes what it heard ("bank" as "bangs").

    With `turn_s` 0 the first turn is the first final. A second pass that decodes each VAD
    utterance splits "您好，[pause] 欢迎致电…" in two finals, so with `turn_s` > 0 the turn is every
    final of `speaker` that starts before the other side first speaks and within `turn_s` of
    the first one; it is judged once those finals are in (or `LATE_S` after that window)."""

    name = "greeting"
    params = {
        **_WordDetector.base_params,
        "company": (str, None),
        "name": (str, None),
        "turn_s": ((int, float), 0.0),
        "company_by_sound": (bool, False),
        # how the prompt names what is missing, in the pack's language
        "company_label": (str, "company"),
        "name_label": (str, "name"),
        "joiner": (str, " + "),
    }
    LATE_S = 5.0  # a final that never comes (Whisper heard nothing) does not block the judgment
    CAUGHT_UP_S = 1.0  # speech end (VAD hangover) vs the last word's end in the final

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.p["turn_s"] < 0:
            raise ValueError("turn_s must be >= 0")
        self.company = _lists(self.pack, self.p["company"])
        self.own_name = _lists(self.pack, self.p["name"])
        self.seen_first = False
        self.first_start: float | None = None
        self.other_from: float | None = None  # when the other side first spoke after that
        self.heard: list[str] = []
        self.heard_until = 0.0

    def _missing(self) -> list[str]:
        text = " ".join(self.heard)
        return [
            what
            for what, entries, by_sound in (
                (self.p["company_label"], self.company, self.p["company_by_sound"]),
                (self.p["name_label"], self.own_name, False),
            )
            if not self.find(text, entries, by_sound=by_sound)
        ]

    def check(self, ctx: Context) -> Condition | None:
        if self.seen_first:
            return None
        me: Speaker = self.p["speaker"]
        for t in ctx.new_transcripts:
            if t.speaker != me or t.kind != "final":
                continue
            start = ctx.now if t.start is None else t.start  # engines without times
            if self.first_start is None:
                self.first_start = start
            limit = self.first_start + self.p["turn_s"]
            if self.other_from is not None:
                limit = min(limit, self.other_from)
            if start <= limit:
                self.heard.append(t.text)
                self.heard_until = max(self.heard_until, ctx.now if t.end is None else t.end)
            if self.p["turn_s"] == 0:
                break
        if self.first_start is None:
            return None
        missing = self._missing()
        if missing and self.p["turn_s"] > 0 and not self._turn_over(ctx, me):
            return None
        self.seen_first = True
        if missing:
            return Condition(
                {"missing": self.p["joiner"].join(missing), "heard": " ".join(self.heard)}
            )
        return None

    def _turn_over(self, ctx: Context, me: Speaker) -> bool:
        assert self.first_start is not None
        other = ctx.conv.speakers["customer" if me == "agent" else "agent"]
        if self.other_from is None and other.speaking and other.run_start is not None:
            started = ctx.conv.seconds(other.run_start)
            if started > self.first_start:
                self.other_from = started
        window_end: float = self.first_start + self.p["turn_s"]
        if self.other_from is None and ctx.now < window_end:
            return False
        mine = ctx.conv.speakers[me]
        cutoff = min(window_end, self.other_from or window_end)
        spoke_until = ctx.conv.seconds(mine.last_end or 0)
        pending = mine.speaking and ctx.conv.seconds(mine.run_start or 0) < cutoff
        caught_up = not pending and min(spoke_until, cutoff) <= self.heard_until + self.CAUGHT_UP_S
        return bool(caught_up or ctx.now >= cutoff + self.LATE_S)
