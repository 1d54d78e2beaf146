"""Number normalisation: spelled digits, amounts, dates, zh numerals, read-back comparison."""

from __future__ import annotations

import pytest

from assist.core.numbers import extract, read_back


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
