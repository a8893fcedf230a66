"""One annotation that does not resolve at run time costs its own parameter's check, not every one.

A module with ``from __future__ import annotations`` that imports a name only
for type checkers (``if TYPE_CHECKING: from decimal import Decimal``) has a
string annotation that cannot be evaluated where the cog runs. The annotations
were resolved all at once (:func:`typing.get_type_hints`), and one failure
dropped every cast of the cog: ``bits = "ninety-nine"`` for an
``Annotated[int, conf.Range(0, 32)]`` passed ``deadbeat check`` and reached
the cog. Now each annotation is resolved on its own, and the one that does not
resolve is taken as Any, said once in a warning naming the cog, the parameter
and the name.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from deadbeat import conf
from deadbeat.conf import _declared

MakeDist = Callable[..., Path]

HINTED = textwrap.dedent(
    '''
    from __future__ import annotations

    from typing import TYPE_CHECKING, Annotated

    from deadbeat import conf, movement

    if TYPE_CHECKING:
        from decimal import Decimal  # only for the type checker
        from typing import Optional

        from deadbeat.movement import Train


    class Bits(movement.Cog):
        """Keep a number of bits.

        :param bits: how many, 0 to 32.
        :param scale: an optional scale.
        :param mode: how.
        """

        def __init__(
            self,
            bits: Annotated[int, conf.Range(0, 32)] = 24,
            scale: Decimal | None = None,
            mode: Optional[int] = None,
        ) -> None:
            self.bits = bits
            self.scale = scale

        def __call__(self, d):
            return ({"line": d, "bits": self.bits},)


    class Trained(movement.Cog):
        """Asks for the Train by an annotation imported for type checkers only.

        :param count: how many.
        """

        def __init__(self, geartrain: Train, count: int = 1, other: Missing = None) -> None:
            self.count = count

        def __call__(self, d):
            return (d,)
    '''
)


def _module(tmp_path: Path, name: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(HINTED)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture
def hinted(tmp_path: Path) -> Any:
    name = f"hinted_{os.getpid()}_{tmp_path.name.replace('-', '_')}"
    module = _module(tmp_path, name)
    yield module
    sys.modules.pop(name, None)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "deadbeat.conf" and r.levelno == logging.WARNING]


def test_one_unresolvable_annotation_keeps_the_other_checks(hinted: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="deadbeat.conf")
    injected, declared = conf.declared_parameters(hinted.Bits)
    assert injected is None
    by_name = {d.name: d for d in declared}
    assert list(by_name) == ["bits", "scale", "mode"]
    # The resolvable one keeps its cast and its friendly type name.
    with pytest.raises(ValueError):
        by_name["bits"].cast("ninety-nine")
    with pytest.raises(ValueError):
        by_name["bits"].cast(99)
    assert by_name["bits"].cast(7) == 7
    assert by_name["bits"].type_name == "integer from 0 to 32"
    # Typing's own names are there even when the module imported them for type checkers only.
    assert by_name["mode"].cast(5) == 5
    with pytest.raises(ValueError):
        by_name["mode"].cast("five")
    # The one that does not resolve takes anything, and shows as written.
    assert by_name["scale"].cast is conf.cast_any
    assert by_name["scale"].annotation == "Decimal | None"
    assert by_name["scale"].type_name == "Decimal | None"
    (warning,) = _warnings(caplog)
    assert f"{hinted.__name__}:Bits" in warning and "'scale'" in warning and "'Decimal'" in warning
    assert "TYPE_CHECKING" in warning


def test_the_warning_is_given_once(hinted: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="deadbeat.conf")
    for _ in range(3):
        conf.declared_parameters(hinted.Bits)
        conf.section_of(hinted.Bits, "bits")
    assert len(_warnings(caplog)) == 1


def test_an_injected_train_annotated_for_type_checkers_only(hinted: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The first parameter's annotation, unresolved, still says it asks for the Train; no warning for it."""
    caplog.set_level(logging.WARNING, logger="deadbeat.conf")
    injected, declared = conf.declared_parameters(hinted.Trained)
    assert injected == "train"
    by_name = {d.name: d for d in declared}
    assert list(by_name) == ["count", "other"]
    with pytest.raises(ValueError):
        by_name["count"].cast("many")
    assert by_name["other"].cast is conf.cast_any
    (warning,) = _warnings(caplog)
    assert "'other'" in warning and "'Missing'" in warning and "geartrain" not in warning


def test_resolved_annotations_match_get_type_hints() -> None:
    """Where every annotation resolves, the result is the one typing.get_type_hints gives."""
    import typing

    fs = pytest.importorskip("deadbeat.fs")
    FileReaderSupply = fs.FileReaderSupply  # noqa: N806

    expected = typing.get_type_hints(FileReaderSupply.__init__, include_extras=True)
    expected.pop("return", None)
    assert _declared._hints(FileReaderSupply) == expected


def _env(*paths: Path) -> dict[str, str]:
    extra = [str(p) for p in paths]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [*extra, os.environ.get("PYTHONPATH")]))}


def test_deadbeat_check_refuses_the_bad_value(tmp_path: Path) -> None:
    """The probe: 'deadbeat check' said ok and the run passed the text through."""
    (tmp_path / "hcogs.py").write_text(HINTED)
    (tmp_path / "p.toml").write_text('[[cog]]\nuse = "hcogs:Bits"\nbits = "ninety-nine"\n')
    result = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "check", "p.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "p.toml: cog[0] (hcogs:Bits): bits: expected an integer from 0 to 32, got 'ninety-nine'" in result.stdout
    warned = [line for line in result.stderr.splitlines() if "'scale'" in line]
    assert len(warned) == 1 and "hcogs:Bits" in warned[0] and "'Decimal'" in warned[0], result.stderr


def test_cogs_show_keeps_friendly_type_names(make_dist: MakeDist, tmp_path: Path) -> None:
    site = make_dist("deadbeat-hnt", {"hnt.bits": "hnt_mod:Bits"}, "hnt_mod", HINTED)
    result = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "cogs", "show", "hnt.bits"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(site),
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bits: integer from 0 to 32" in result.stdout
    assert "scale: Decimal | None" in result.stdout
    assert "mode: integer or none" in result.stdout
