"""Property tests of the rule-pack parser: any text either loads or raises one-line RulePackError.

Three kinds of input: arbitrary text, the shipped packs with lines mutated (values replaced
by random TOML values, lines dropped or repeated), and packs built from random values for
the keys a pack really has. Nothing else may escape (no KeyError, ValueError, TypeError...).
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assist.core.errors import RulePackError
from assist.core.pack import RulePack
from assist.core.rules import parse_pack

DETECTOR_LIST = '[pack]\n[[rule]]\nid = "customer_silence"\ndetector = []\n'

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _shipped(lang: str) -> str:
    from importlib import resources

    return resources.files("assist").joinpath("rules", f"{lang}.toml").read_text("utf-8")


PACKS = [_shipped("en"), _shipped("zh")]
VERSION_LIST = PACKS[0].replace("\nversion = 1\n", "\nversion = []\n", 1)


def _float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.floats().map(_float),
    st.text(max_size=20).map(lambda s: json.dumps(s)),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.sampled_from(["1979-05-27", "07:32:00", "1979-05-27T07:32:00Z"]),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=6,
)
garbage = st.one_of(toml_values, st.text(max_size=15), st.sampled_from(["", "=", "[", "]]", '"']))


def check(text: str) -> None:
    try:
        pack = parse_pack(text, "fuzz.toml")
    except RulePackError as exc:
        message = str(exc)
        assert message.startswith("fuzz.toml") and "\n" not in message, message
    else:
        assert isinstance(pack, RulePack) and pack.rules


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    check(text)


@st.composite
def mutated_pack(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(PACKS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "value", "drop", "repeat", "raw"]))
        line = lines[i]
        if op == "value" and "=" in line and not line.lstrip().startswith("#"):
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {draw(garbage)}"
        elif op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, line)
        elif op == "raw":
            lines[i] = draw(st.text(max_size=30))
        if not lines:
            lines = [""]
    return "\n".join(lines)


@SETTINGS
@given(mutated_pack())
@example(VERSION_LIST)
def test_mutated_shipped_packs(text: str) -> None:
    check(text)


RULE_KEYS = ["id", "detector", "text", "severity", "priority", "cooldown_s", "clears"]
PARAM_KEYS = ["last_speaker", "min_s", "window_s", "phrases", "speaker", "ratio"]


@st.composite
def built_pack(draw: st.DrawFn) -> str:
    out = ["[pack]"]
    for key in draw(st.lists(st.sampled_from(["name", "lang", "version", "max_active"]))):
        out.append(f"{key} = {draw(toml_values)}")
    for _ in range(draw(st.integers(0, 3))):
        out.append("[[rule]]")
        rid = draw(st.one_of(st.sampled_from(["customer_silence", "agent_silence"]), toml_values))
        out.append(f"id = {json.dumps(rid) if rid.isidentifier() else rid}")
        for key in draw(st.lists(st.sampled_from(RULE_KEYS[1:]), unique=True)):
            out.append(f"{key} = {draw(toml_values)}")
        if draw(st.booleans()):
            out.append("[rule.params]")
            for key in draw(st.lists(st.sampled_from(PARAM_KEYS), unique=True)):
                out.append(f"{key} = {draw(toml_values)}")
    if draw(st.booleans()):
        out.append("[phrases]")
        out.append(f"closing = {draw(toml_values)}")
    return "\n".join(out)


@SETTINGS
@given(built_pack())
@example(DETECTOR_LIST)
def test_packs_built_from_random_values(text: str) -> None:
    check(text)


def test_the_shipped_packs_load() -> None:  # the mutations start from valid packs
    for text in PACKS:
        assert parse_pack(text, "ok.toml").rules
