"""The Escapement raises glibc's trim and mmap thresholds, unless told not to or the operator chose.

Each case runs in a process of its own: the thresholds are the process's, set once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from deadbeat.movement import _allocator

glibc = pytest.mark.skipif(os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc only")

# Copies a file in 128 KiB chunks the way a supply and an output do (read,
# join to the unfinished line, decode, split; join, encode, write), and
# reports the page faults of each copy after the first (which fills the heap).
COPY = textwrap.dedent(
    """
    import json, os, resource, sys, tempfile
    from deadbeat import movement
    from deadbeat.movement import _allocator
    movement.Escapement(tune_allocator=sys.argv[1] == "tune").close()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.log")
        with open(src, "w") as handle:
            handle.writelines(f"{i:09d} " + "x" * 189 + "\\n" for i in range(200_000))
        fd = os.open(src, os.O_RDONLY)
        out = os.open(os.path.join(tmp, "out.log"), os.O_WRONLY | os.O_CREAT)
        faults = []
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            pos, partial = 0, b""
            while chunk := os.pread(fd, 1 << 17, pos):
                pos += len(chunk)
                data = partial + chunk
                cut = data.rfind(b"\\n") + 1
                partial = data[cut:]
                lines = str(memoryview(data)[:cut], "utf-8").split("\\n")
                lines.pop()
                os.write(out, ("\\n".join(lines) + "\\n").encode())
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        print(json.dumps({"tuned": _allocator._tuned, "faults": faults[1:]}))
    """
)


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=environ, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


@glibc
def test_an_escapement_tunes_the_allocator_once() -> None:
    code = (
        "from deadbeat import movement; from deadbeat.movement import _allocator;"
        "movement.Escapement().close(); first = _allocator._tuned;"
        "print(first, _allocator.tune_allocator())"
    )
    assert run_python(code) == "True True"


@glibc
def test_tune_allocator_false_leaves_it_alone() -> None:
    code = "from deadbeat import movement; from deadbeat.movement import _allocator;"
    code += "movement.Escapement(tune_allocator=False).close(); print(_allocator._tuned)"
    assert run_python(code) == "None"


@pytest.mark.parametrize(
    "env",
    [
        {"MALLOC_TRIM_THRESHOLD_": "1048576"},
        {"MALLOC_MMAP_THRESHOLD_": "1048576"},
        {"MALLOC_TOP_PAD_": "0"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"},
    ],
)
def test_the_operators_own_choice_is_kept(env: dict[str, str]) -> None:
    code = "from deadbeat import movement; from deadbeat.movement import _allocator;"
    code += "movement.Escapement().close(); print(_allocator._tuned)"
    assert run_python(code, env=env) == "False"


def test_the_choice_is_read_from_the_environment_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_allocator, "_tuned", None)
    assert _allocator.tune_allocator({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}) is False
    # Once decided, the same answer, whatever is asked after.
    assert _allocator.tune_allocator({}) is False


@glibc
def test_chunks_of_128_kib_stay_in_the_heap_once_it_is_tuned() -> None:
    """What the tuning is for: the blocks of one chunk are reused for the next, not given back and faulted in again.

    Untuned, whether glibc gives the top of its heap back depends on where the
    blocks of the process happen to lie: some runs fault every chunk in again
    (some 1,500 faults a copy), others none. So only the tuned side is held to
    a figure; the untuned run is there to show the tuning is what decides.
    """
    tuned = json.loads(run_python(COPY, "tune"))
    untuned = json.loads(run_python(COPY, "leave"))
    assert tuned["tuned"] is True and untuned["tuned"] is None
    # 40 MB copied per round, some 10,000 pages through the heap: tuned, a
    # round after the first faults next to nothing in.
    assert max(tuned["faults"]) < 200, (tuned, untuned)
