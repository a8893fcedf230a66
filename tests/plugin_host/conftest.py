"""The ``venv`` mark of the plugin-host tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # They build wheels and a fresh virtual environment: about half a minute in
    # all, most of it pip; `-m 'not venv'` leaves them out of a quick run.
    config.addinivalue_line("markers", "venv: builds wheels and a fresh virtual environment (about 30 s)")
