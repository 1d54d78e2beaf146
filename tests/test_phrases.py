"""Fuzzy phrase matching: ASR-style errors still match, short words and other words don't."""

from __future__ import annotations

import pytest

from assist.core.phrases import Phrase, find, similarity


@pytest.mark.parametrize(
    ("text", "phrase", "heard"),
    [
        ("this is ridiculus", "ridiculous", "ridiculus"),
        ("i want to make a complain", "complaint", "complain"),
        ("that is unacceptible", "unacceptable", "unacceptible"),
        ("get me your super visor", "supervisor", "super"),  # split word
        ("You Have To wait", "you have to", "you have to"),
        ("I can’t do that", "can't", "can't"),
    ],
)
def test_asr_errors_still_match(text: str, phrase: str, heard: str) -> None:
    [m] = find(text, [phrase])
    assert m.phrase == phrase and m.heard.startswith(heard)
    assert 0.84 <= m.score <= 1.0


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("i know that", "no"),  # short words must match exactly
        ("the button", "but"),
        ("i can do that", "can't"),
        ("a sunny day", "manager"),
        ("cancellation fee", "policy"),
    ],
)
def test_different_words_do_not_match(text: str, phrase: str) -> None:
    assert find(text, [phrase]) == []


def test_chinese_exact_and_one_char_off() -> None:
    assert find("我 要 投 诉", ["投诉"])[0].heard == "投诉"
    assert find("我很不满义", ["不满意"])[0].score == pytest.approx(2 / 3, abs=0.01)
    assert find("我要投拆", ["投诉"]) == []  # two-character phrases must be exact


def test_matches_come_in_text_order_with_suggestions_parsed() -> None:
    ms = find("you must calm down", ["calm down => I understand", "you must => Could you"])
    assert [m.phrase for m in ms] == ["you must", "calm down"]
    assert Phrase.parse("policy => explain why").suggestion == "explain why"
    with pytest.raises(ValueError):
        Phrase.parse(" => nothing")


def test_similarity_is_normalised_levenshtein() -> None:
    assert similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert similarity("", "a") == 0.0 and similarity("a", "a") == 1.0
