"""The distribution installs beside the core and imports inside the namespace."""

import importlib
from importlib import metadata as importlib_metadata


class TestInstallable:
    def test_imports_inside_the_deadbeat_namespace(self) -> None:
        """The module is reachable as deadbeat.dns, .socket, .http and .stream, sharing the namespace with the core."""
        for name in ("deadbeat.dns", "deadbeat.socket", "deadbeat.http", "deadbeat.stream"):
            assert importlib.import_module(name).__name__ == name
        movement = importlib.import_module("deadbeat.movement")
        assert movement.Train is not None

    def test_declares_its_core_requirement(self) -> None:
        """The distribution's metadata asks for a compatible deadbeat-core."""
        requires = importlib_metadata.requires("deadbeat-cogs-net") or []
        assert any(r.startswith("deadbeat-core") for r in requires)
