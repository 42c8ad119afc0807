"""Settings: defaults, environment, and the origin's key-name rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ledger.settings import Settings, load_settings


def test_defaults_point_at_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'ledger.db').resolve()}"
    assert settings.chain_url == "embedded" and settings.checkpoint_interval == 1.0


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIFELEDGER_ORIGIN", "insurer.example/log")
    monkeypatch.setenv("LIFELEDGER_DATA_DIR", str(tmp_path))
    settings = load_settings(data_dir=None, checkpoint_interval=0.5)
    assert (settings.origin, settings.data_dir, settings.checkpoint_interval) == ("insurer.example/log", tmp_path, 0.5)


@pytest.mark.parametrize("origin", ["", "two words", "a+b", "line\nbreak", " padded"])
def test_origin_must_be_a_signed_note_key_name(origin: str) -> None:
    with pytest.raises(ValidationError, match=r"origin|key name"):
        Settings(origin=origin)


def test_serve_runs_one_worker_per_cpu_it_may_use_at_most_four(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from ledger.settings import WORKERS_DEFAULT_MAX, default_workers

    for cpus, expected in ((1, 1), (2, 2), (3, 3), (16, WORKERS_DEFAULT_MAX)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cpus: set(range(n)), raising=False)
        assert default_workers() == expected
        assert Settings(data_dir=Path("unused")).workers == expected
    monkeypatch.setenv("LIFELEDGER_WORKERS", "1")
    assert Settings(data_dir=Path("unused")).workers == 1  # the setting still wins
