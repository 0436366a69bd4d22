"""Which directories a local ``uri`` may name (``launchq.build.allowed_dirs``) and how
``launchq serve`` reads them (``--allow-dir``, ``LAUNCHQ_ALLOW_DIRS``, the auth default)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from launchq.build.allowed_dirs import allow_only, allowed, bound_for, check_allowed
from launchq.build.workspace import check_uri
from launchq.errors import InvalidInput
from launchq.local.settings import load_local_settings


@pytest.fixture(autouse=True)
def unbounded() -> Iterator[None]:
    """Every test starts and ends with no bound installed (the process default)."""
    allow_only(None)
    yield
    allow_only(None)


def test_the_env_variable_is_split_on_the_path_separator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAUNCHQ_ALLOW_DIRS", f"{tmp_path / 'a'}{os.pathsep}{os.pathsep}{tmp_path / 'b'}")
    assert load_local_settings(data_dir=tmp_path).allow_dirs == [tmp_path / "a", tmp_path / "b"]


def test_the_flags_win_over_the_env_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAUNCHQ_ALLOW_DIRS", str(tmp_path / "env"))
    settings = load_local_settings(data_dir=tmp_path, allow_dirs=[tmp_path / "flag"])
    assert settings.allow_dirs == [tmp_path / "flag"]


def test_with_auth_off_and_none_given_there_is_no_bound(tmp_path: Path) -> None:
    assert bound_for([], auth_required=False, data_dir=tmp_path) is None


def test_with_auth_on_the_default_is_the_data_dir_and_the_current_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    data = tmp_path / "data"
    assert bound_for([], auth_required=True, data_dir=data) == (data.resolve(), project.resolve())


def test_given_dirs_replace_the_default_and_must_exist(tmp_path: Path) -> None:
    assert bound_for([tmp_path], auth_required=True, data_dir=tmp_path / "data") == (tmp_path.resolve(),)
    with pytest.raises(InvalidInput) as caught:
        bound_for([tmp_path / "missing"], auth_required=False, data_dir=tmp_path)
    assert caught.value.field == "--allow-dir"


def test_check_uri_refuses_outside_and_accepts_inside(tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "up").symlink_to(tmp_path)
    allow_only((inside,))
    assert allowed() == (inside.resolve(),)
    check_uri(str(inside))
    for uri in ("/etc", str(inside / "up"), f"{inside}/.."):
        with pytest.raises(InvalidInput) as caught:
            check_uri(uri)
        assert caught.value.field == "uri"
    check_uri("https://example.com/team/repo.git")  # git URLs are not local paths


def test_a_relative_uri_is_resolved_against_the_current_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "code").mkdir()
    monkeypatch.chdir(tmp_path)
    allow_only((tmp_path / "code",))
    check_allowed("code")
    with pytest.raises(InvalidInput, match="resolves to"):
        check_allowed(".")
