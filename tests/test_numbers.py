"""Number normalisation: spelled digits, amounts, dates, zh numerals, read-back comparison."""

from __future__ import annotations

import pytest

from assist.core.numbers import (
    candidates,
    extract,
    read_back,
    readback_cost,
    shown,
    written_as_amount,
)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("my account number is four seven two nine one eight three", ["4729183"]),
        ("call me on five five five oh one two three", ["5550123"]),
        ("it was twenty five dollars and fifty cents", ["25", "50"]),
        ("the card ends in 4 7 2 9", ["4729"]),
        ("on march twenty first nineteen eighty four", ["21", "1984"]),
        ("one moment please i have two questions", []),
        ("so that is 4729 183", ["4729183"]),
        ("it cost $1,250.50", ["1250.50"]),
        # as Whisper writes them: digits, ordinals, dotted digit runs, mixed
        ("My count number is 4729183", ["4729183"]),
        ("4th and 1.1.8th", ["118"]),
        ("I said 1.1.8.", ["118"]),
        ("the account is 47-29-183.", ["4729183"]),
        ("that's 4, 7, 2, 9, 1, 8, 3.", ["4729183"]),
        ("on the twenty first, at 2.30", ["21", "2.30"]),
    ],
)
def test_english(text: str, numbers: list[str]) -> None:
    assert extract(text, "en") == numbers


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("我的账号是四七二九一八三", ["4729183"]),
        ("电话 是 幺 三 八 零 零 一 二 三 四 五 六", ["13800123456"]),
        ("一共是一百二十五块", ["125"]),
        ("二零二四年三月十五号", ["2024", "15"]),
        ("您的账号是4729183对吗", ["4729183"]),
        ("我要投诉", []),
        ("四七2九一八三", ["4729183"]),  # mixed: Whisper writes some digits as numerals
        ("我的电话是幺三九，一二三四，五六七八", ["13912345678"]),  # read in groups
        ("卡号 6225 8801", ["62258801"]),
        ("账号是１２３４５", ["12345"]),  # full-width digits
        ("您本月的账单是320.5元", ["320.5"]),  # a decimal point survives
        ("三百二十点五元", ["320.5"]),
        ("一共是两千三百元，查一下", ["2300"]),  # 一共, 一下 are words, not numbers
    ],
)
def test_chinese(text: str, numbers: list[str]) -> None:
    assert extract(text, "zh") == numbers


def test_min_digits_filters_small_numbers() -> None:
    assert extract("twenty five dollars", "en", min_digits=3) == []
    assert extract("three", "en", min_digits=1) == ["3"]


def test_read_back_in_any_grouping() -> None:
    assert read_back("4729183", ["4729", "183"])
    assert read_back("4729183", ["4729183"])
    assert not read_back("4729183", ["4729", "138"])
    assert not read_back("4729183", [])


def test_read_back_may_forgive_one_misheard_digit_in_four() -> None:
    assert not read_back("1385", ["385"])  # exact by default (the English pack)
    assert read_back("1385", ["385"], digits_per_edit=4)  # 是 heard as 1 (the zh pack)
    assert read_back("62835914", ["6283", "5004"], digits_per_edit=4)  # two in eight, grouped
    assert not read_back("62835914", ["6283", "5000"], digits_per_edit=4)  # three in eight
    assert not read_back("385", ["386"], digits_per_edit=4)  # under four digits: exact
    assert not read_back("4729183", ["4729138"], digits_per_edit=4)  # a swap is two edits


def test_a_real_tidigits_clip_through_a_phone_line_reads_back() -> None:
    """A real recorded digit string ("two nine three four zero", tidigits, from
    pocketsphinx-testdata) down an 8 kHz mu-law line, heard by the packaged Whisper tiny.en:
    Whisper writes "29340."; the agent reading it back in words or in groups matches."""
    import numpy as np
    from phone import phone_line
    from speech_clips import clip

    from assist.runtime import models

    whisper = models.select_engine("en", asr="whisper").second
    assert whisper is not None
    x, ref = clip("tidigits")
    pad = np.zeros(8_000, np.float32)
    hyp = whisper.decode(phone_line(np.concatenate([pad, x, pad])))
    assert hyp is not None
    heard = extract(hyp.text, "en", min_digits=3)
    assert heard == extract(ref, "en", min_digits=3) == ["29340"]
    for said in ("two nine three four oh", "29 340", "two nine three, four zero"):
        assert read_back(heard[0], extract(said, "en", min_digits=1)), said
    assert not read_back(heard[0], extract("two nine three four", "en", min_digits=1))


# --- candidates: what speaks for a number being one the customer gave -------------------------


def test_candidates_carry_their_evidence() -> None:
    [c] = candidates("four seven two nine", "en", min_digits=3)
    assert (c.digits, c.run) == ("4729", True)  # said digit by digit
    [c] = candidates("2,000.", "en", min_digits=3)  # a yes heard as a number: one piece
    assert (c.digits, c.run, c.conf) == ("2000", False, None)
    [c] = candidates("四七二九", "zh", min_digits=3)
    assert (c.digits, c.run) == ("4729", True)
    [c] = candidates("2,000。", "zh", min_digits=3)  # 对的 heard as 2,000
    assert (c.digits, c.run) == ("2000", False)
    [c] = candidates("两千", "zh", min_digits=3)  # a round amount said with 千 is not a run
    assert (c.digits, c.run) == ("2000", False)


def test_candidates_take_the_recognisers_confidence_and_mark_unsure_digits() -> None:
    words = [("My", 0.9), ("account", 0.95), ("is", 0.9), ("4729", 0.3), ("183.", 0.92)]
    [c] = candidates("My account is 4729 183.", "en", min_digits=3, words=words, unsure_below=0.5)
    assert (c.digits, c.conf, c.uncertain) == ("4729183", 0.3, ("4729",))
    assert shown(c) == "[4729]183"
    sure = candidates("My account is 4729 183.", "en", min_digits=3, words=words)
    assert shown(sure[0]) == "4729183"  # unsure_below 0: nothing marked


def test_read_back_rule_digits_per_edit_in_english_too() -> None:
    """The issue's phone-line misreading: 4729183 heard back as "4129183" is one edit in seven
    digits (allowed with digits_per_edit 4: one per four digits); two wrong is not a read-back."""
    assert read_back("4729183", extract("4129183", "en", min_digits=1), digits_per_edit=4)
    assert read_back("4729183", extract("47 29 18 3", "en", min_digits=1), digits_per_edit=4)
    assert not read_back("4729183", extract("4129188", "en", min_digits=1), digits_per_edit=4)
    assert not read_back("4729183", extract("4129183", "en", min_digits=1))  # exact


def test_real_recorded_numbers_through_a_phone_line_carry_their_evidence() -> None:
    """Real recordings (pocketsphinx-testdata) down an 8 kHz mu-law line, heard by the packaged
    Whisper tiny.en: a digit string is a strong candidate (five digits); the short answers
    ("five five", "go forward ten meters") give no candidate of three digits, so they can never
    ask for a read-back."""
    import numpy as np
    from phone import phone_line
    from speech_clips import clip

    from assist.runtime import models

    whisper = models.select_engine("en", asr="whisper").second
    assert whisper is not None
    pad = np.zeros(8_000, np.float32)

    def hear(name: str):  # type: ignore[no-untyped-def]
        x, _ = clip(name)
        hyp = whisper.decode(phone_line(np.concatenate([pad, x, pad])))
        assert hyp is not None
        words = [(w.w, w.conf) for w in hyp.words]
        return hyp.text, candidates(hyp.text, "en", min_digits=3, words=words)

    text, [c] = hear("tidigits")
    assert c.digits == "29340" and len(c.digits) >= 5, text
    assert c.conf is not None and 0 < c.conf <= 1
    for short in ("cards-004", "goforward"):
        text, found = hear(short)
        assert found == [], text


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("I was charged $250 twice.", True),
        ("it was £ 40", True),
        ("扣了¥320", True),
        ("I was charged 250 twice.", False),  # no sign: the words must say so
        ("the $ sign and 250", False),  # a sign not before the number
    ],
)
def test_a_currency_sign_before_a_number_marks_an_amount(text: str, amount: bool) -> None:
    assert written_as_amount(text) is amount


@pytest.mark.parametrize(
    ("number", "heard", "lang"),
    [
        # 5552301 read back, each side lost a digit: "555-3001" / "5 5 2 3 0 1" (the corpus)
        ("5553001", "five five two three zero one", "en"),
        ("5553001", "五五二三零一", "zh"),
        ("29340", "two nine three four", "en"),  # the last digit lost
        ("29340", "二九三四四零", "zh"),  # a digit doubled
        ("62835914", "six two eight three five nine one", "en"),
    ],
)
def test_a_read_back_with_a_digit_lost_or_doubled_on_each_side_is_a_read_back(
    number: str, heard: str, lang: str
) -> None:
    """A recogniser loses one of a run of repeated digits or doubles one; with both sides
    heard, a read-back that differs by a lost digit and one more slip is still a read-back."""
    said = extract(heard, lang, min_digits=1)
    assert read_back(number, said, digits_per_edit=4), said
    assert not read_back(number, said)  # exact (digits_per_edit 0) it is not


@pytest.mark.parametrize(
    ("number", "heard", "lang"),
    [
        ("29340", "two nine four three zero", "en"),  # two digits swapped
        ("29340", "二九四三零", "zh"),
        ("4729183", "four seven one two one eight three", "en"),  # two digits different
        ("4729183", "四一二九一八八", "zh"),
        ("62835914", "six two eight three", "en"),  # half read back
        ("29340", "two nine three", "en"),
        ("29340", "eight one seven six six", "en"),  # another number
        ("5553001", "五五五三", "zh"),
    ],
)
def test_a_wrong_or_half_read_back_is_no_read_back(number: str, heard: str, lang: str) -> None:
    """A wrong read-back changes digits in place (or swaps them): that is a whole edit per
    digit, and more digits missing than one per four is a read-back left half done."""
    said = extract(heard, lang, min_digits=1)
    assert not read_back(number, said, digits_per_edit=4), said


def test_the_read_back_cost_counts_a_lost_digit_as_half_an_edit() -> None:
    assert readback_cost("5553001", "552301", 4) == 1.5  # a digit lost, one different
    assert readback_cost("4729183", "4729138", 4) == 2  # a swap
    assert readback_cost("4729183", "4129183", 4) == 1  # one different
    assert readback_cost("62835914", "6283", 4) == 3  # 4 missing: 2 at half price
