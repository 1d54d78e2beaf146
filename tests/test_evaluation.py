"""Labels and scoring for `assist eval`: hits in windows, false alarms, latency, bad labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from assist.core.errors import InputError
from assist.runtime.evaluation import Expect, Label, load_dir, load_label, score, totals


def label(expect: tuple[Expect, ...] = (), forbid: tuple[str, ...] = ()) -> Label:
    return Label("c", Path("c.wav"), expect, forbid)


def test_a_prompt_in_its_window_is_a_hit_with_latency_from_the_cues_moment() -> None:
    lb = label((Expect("confirm_numbers", 10.0, 14.0),))
    s = score([(lb, [(11.2, "confirm_numbers")])])["confirm_numbers"]
    assert (s.expected, s.hits, s.false_alarms, s.recall) == (1, 1, 0, 1.0)
    assert s.latencies == [pytest.approx(1.2)]


def test_late_early_and_forbidden_prompts_are_false_alarms_or_misses() -> None:
    lb = label((Expect("confirm_numbers", 10.0, 14.0),), forbid=("anything_else",))
    got = score([(lb, [(15.0, "confirm_numbers"), (3.0, "anything_else"), (4.0, "pace_fast")])])
    late = got["confirm_numbers"]  # after `by`: a miss, and late, but the cue was real
    assert (late.hits, late.late, late.false_alarms, late.missed) == (0, 1, 0, ["c@10"])
    assert got["anything_else"].false_alarms == 1
    assert "pace_fast" not in got  # neither expected nor forbidden: not judged
    assert totals(got).false_alarms == 1
    early = score([(lb, [(5.0, "confirm_numbers"), (40.0, "confirm_numbers")])])
    assert (early["confirm_numbers"].false_alarms, early["confirm_numbers"].late) == (2, 0)


def test_star_forbids_every_rule_and_repeats_inside_a_hit_window_are_not_alarms() -> None:
    lb = label((Expect("negative_phrase", 5.0, 9.0),))
    got = score([(lb, [(6.0, "negative_phrase"), (7.0, "negative_phrase")])])
    assert (got["negative_phrase"].hits, got["negative_phrase"].false_alarms) == (1, 0)
    silent = label(forbid=("*",))
    assert score([(silent, [(1.0, "greeting")])])["greeting"].false_alarms == 1


def test_rules_named_up_front_are_listed_with_no_recall() -> None:
    got = score([(label(), [])], ["hold_reason"])
    assert got["hold_reason"].recall is None and got["hold_reason"].to_dict()["recall"] is None


def _write(folder: Path, name: str, text: str, wav: bool = True) -> Path:
    (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    if wav:
        (folder / f"{name}.wav").write_bytes(b"")
    return folder / f"{name}.toml"


def test_a_label_file_is_read(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "a",
        'lang = "zh"\nforbid = ["greeting"]\n'
        '[[expect]]\nrule = "anything_else"\nat = 1\nby = 2.5\n',
    )
    lb = load_label(p)
    assert (lb.name, lb.lang, lb.forbid) == ("a", "zh", ("greeting",))
    assert lb.expect == (Expect("anything_else", 1.0, 2.5),)
    assert [x.name for x in load_dir(tmp_path)] == ["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("forbid = 3\n", "bad.toml: forbid: expected a list of rule ids, got 3"),
        ("colour = 1\n", "bad.toml: colour: unknown key (known: expect, forbid, lang)"),
        ("[[expect]]\nrule = 'x'\nat = 5\nby = 2\n", "expect[0].by: by (2.0) is before at (5.0)"),
        ("[[expect]]\nrule = 'x'\nat = -1\nby = 2\n", "expect[0].at: expected a number of"),
        ("[[expect]]\nrule = 'x'\nat = 1\n", "expect[0].by: missing: expected a number"),
        ("[[expect]]\nat = 1\nby = 2\n", "expect[0].rule: missing: expected a rule id"),
        ("forbid = ['x']\n[[expect]]\nrule = 'x'\nat = 1\nby = 2\n", "both expected and forbidden"),
        ("at = [\n", "not valid TOML"),
    ],
)
def test_bad_labels_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, "bad", text)
    with pytest.raises(InputError, match="bad.toml: .*") as exc:
        load_label(p)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_label_without_its_audio_or_a_folder_without_labels_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no call audio lonely.wav"):
        load_label(_write(tmp_path, "lonely", "", wav=False))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no label files"):
        load_dir(empty)
    with pytest.raises(InputError, match="not a folder"):
        load_dir(tmp_path / "missing")
