"""Shared fixtures. Service fixtures live in their own modules, listed in pytest_plugins."""
from __future__ import annotations

import os

import pytest

pytest_plugins: list = ["docker_service", "cli_helpers", "postgres_service", "cloud_services", "git_services",
                       "registry_services"]


@pytest.fixture(autouse=True)
def flowimg_home(tmp_path, monkeypatch):
    """Every test gets its own FLOWIMG_HOME, so no state leaks between tests."""
    home = tmp_path / "flowimg-home"
    home.mkdir()
    monkeypatch.setenv("FLOWIMG_HOME", str(home))
    monkeypatch.delenv("FLOWIMG_BACKEND", raising=False)
    return home
