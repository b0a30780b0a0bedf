"""`vaultline doctor`'s audit checks: where checkpoint copies go, and whether segments are archived."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vaultline.audit.placement import placement_checks
from vaultline.audit.settings import COPY_ENV, URL_ENV


def _statuses(state_root: Path) -> dict[str, tuple[str, str]]:
    return {check.name: (check.status, check.detail) for check in placement_checks(state_root)}


def test_default_copy_inside_the_state_directory_warns(tmp_path: Path) -> None:
    found = _statuses(tmp_path / "state")
    assert (
        found["checkpoint copies"][0] == "warn"
        and "inside the state directory" in found["checkpoint copies"][1]
    )
    assert found["segment archive"][0] == "warn"


def test_a_copy_on_the_same_disk_warns_and_a_bucket_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COPY_ENV, str(tmp_path / "elsewhere"))
    assert _statuses(tmp_path / "state")["checkpoint copies"] == (
        "warn",
        "copied to the state directory's disk",
    )
    monkeypatch.setenv(COPY_ENV, "s3://audit-copies/prod")
    monkeypatch.setenv(URL_ENV, "s3://audit-archive/prod")
    found = _statuses(tmp_path / "state")
    assert found["checkpoint copies"][0] == found["segment archive"][0] == "pass"


@pytest.mark.skipif(
    not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat("/tmp").st_dev,
    reason="needs /dev/shm on a file system of its own, to stand for another disk",
)
def test_a_copy_on_another_disk_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COPY_ENV, "/dev/shm/vaultline-audit-copy-test")
    assert _statuses(tmp_path / "state")["checkpoint copies"][0] == "pass"
