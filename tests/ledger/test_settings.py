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

    from ledger import settings as module
    from ledger.settings import WORKERS_DEFAULT_MAX, default_workers

    monkeypatch.setattr(module, "cgroup_cpu_limit", lambda: None)  # whatever container these tests run in
    for cpus, expected in ((1, 1), (2, 2), (3, 3), (16, WORKERS_DEFAULT_MAX)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cpus: set(range(n)), raising=False)
        assert default_workers() == expected
        assert Settings(data_dir=Path("unused")).workers == expected
    monkeypatch.setenv("LIFELEDGER_WORKERS", "1")
    assert Settings(data_dir=Path("unused")).workers == 1  # the setting still wins


def test_a_container_cpu_quota_bounds_the_default_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from ledger import settings as module

    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert module.cgroup_cpu_limit(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert module.cgroup_cpu_limit(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert module.cgroup_cpu_limit(v1) == 2.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert module.cgroup_cpu_limit(v1) is None
    assert module.cgroup_cpu_limit(tmp_path / "none") is None

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    monkeypatch.setattr(module, "cgroup_cpu_limit", lambda: 1.5)
    assert module.default_workers() == 1  # a container allowed one and a half CPUs on a 64-CPU host
    monkeypatch.setattr(module, "cgroup_cpu_limit", lambda: None)
    assert module.default_workers() == module.WORKERS_DEFAULT_MAX
    monkeypatch.delattr(os, "sched_getaffinity")
    assert module.default_workers() == 1  # not Linux: one process
