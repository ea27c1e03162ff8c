"""Shared fixtures. Service fixtures live in their own modules, listed in pytest_plugins."""
from __future__ import annotations


import pytest

SERVICE_PLUGINS = ("docker_service", "postgres_service", "cloud_services", "git_services", "registry_services")
pytest_plugins: list = ["cli_helpers", *SERVICE_PLUGINS]


def pytest_collection_modifyitems(items) -> None:
    """A test using any fixture from a service plugin (engine, PostgreSQL, S3/GCS, git servers) is
    marked `services`, so `pytest -m "not services"` runs only the unit tests, in seconds."""
    for item in items:
        fixturedefs = getattr(item, "_fixtureinfo", None)
        defs = fixturedefs.name2fixturedefs.values() if fixturedefs else ()
        if any(getattr(d.func, "__module__", "") in SERVICE_PLUGINS for chain in defs for d in chain):
            item.add_marker(pytest.mark.services)


@pytest.fixture(autouse=True)
def flowimg_home(tmp_path, monkeypatch):
    """Every test gets its own FLOWIMG_HOME, so no state leaks between tests."""
    home = tmp_path / "flowimg-home"
    home.mkdir()
    monkeypatch.setenv("FLOWIMG_HOME", str(home))
    monkeypatch.delenv("FLOWIMG_BACKEND", raising=False)
    return home
