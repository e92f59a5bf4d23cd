"""`AOS_PYTHON_BRAIN_PATH` / `aos up --brain-path`: where `python` brains' modules load from."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aos.config import Config
from aos.errors import NotConfigured
from aos.runtime.serve import add_brain_path, serve_forever


@pytest.fixture
def clean_path() -> Iterator[None]:
    before = list(sys.path)
    yield
    sys.path[:] = before


def test_the_default_is_the_directory_aos_up_runs_in() -> None:
    assert Config.load({}).python_brain_path == (".",)


def test_directories_go_to_the_end_of_the_import_path_once(tmp_path: Path, clean_path: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "my_brains.py").write_text("def decide(ctx, events):\n    return None\n")
    monkeypatch.chdir(tmp_path)
    config = Config.load({"AOS_PYTHON_BRAIN_PATH": f"a:{tmp_path / 'b'}:a"})
    assert add_brain_path(config) == [str(tmp_path / "a"), str(tmp_path / "b")]  # relative to where it runs
    assert sys.path[-2:] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert add_brain_path(config) == []  # already there
    import my_brains  # type: ignore[import-not-found]

    assert my_brains.decide(None, []) is None
    del sys.modules["my_brains"]


def test_installed_modules_come_first(tmp_path: Path, clean_path: None) -> None:
    """A module there never shadows the standard library (or an installed package) of the same name."""
    import importlib

    assert "tabnanny" not in sys.modules
    (tmp_path / "tabnanny.py").write_text("raise RuntimeError('shadowed the standard library')\n")
    add_brain_path(Config.load({"AOS_PYTHON_BRAIN_PATH": str(tmp_path)}))
    try:
        assert importlib.import_module("tabnanny").__file__ != str(tmp_path / "tabnanny.py")
    finally:
        sys.modules.pop("tabnanny", None)


def test_a_missing_directory_is_refused_before_anything_starts(tmp_path: Path, clean_path: None,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NotConfigured, match="AOS_PYTHON_BRAIN_PATH: 'nowhere' is not a directory"):
        add_brain_path(Config.load({"AOS_PYTHON_BRAIN_PATH": "nowhere"}))
    code = serve_forever({"AOS_PYTHON_BRAIN_PATH": str(tmp_path / "nowhere"), "AOS_DATA_DIR": str(tmp_path)})
    assert code == 2
    assert f"AOS_PYTHON_BRAIN_PATH: '{tmp_path / 'nowhere'}' is not a directory" in capsys.readouterr().out
    assert not (tmp_path / "aos.db").exists()  # nothing was opened
