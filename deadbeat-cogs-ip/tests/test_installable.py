"""The distribution installs beside the core and imports inside the namespace."""

import importlib

import importlib_metadata


class TestInstallable:
    def test_imports_inside_the_deadbeat_namespace(self) -> None:
        """The module is reachable as deadbeat.ip, sharing the namespace with the core."""
        module = importlib.import_module("deadbeat.ip")
        movement = importlib.import_module("deadbeat.movement")
        assert module.__name__ == "deadbeat.ip"
        assert movement.Train is not None

    def test_declares_its_core_requirement(self) -> None:
        """The distribution's metadata asks for a compatible deadbeat-core."""
        requires = importlib_metadata.requires("deadbeat-cogs-ip") or []
        assert any(r.startswith("deadbeat-core") for r in requires)
