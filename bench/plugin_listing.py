"""``deadbeat cogs --json`` with 50 more cogs from 10 more distributions, beside two start-up floors.

The issue's target: listing 50 cogs from 10 distributions in under 150 ms wall,
whatever the cogs import. The 10 distributions are written as pip would install
them (``.dist-info`` with METADATA, entry points and the manifest the build hook
writes) into a directory put on ``PYTHONPATH``; every cog module sleeps 2 s on
import, so a listing that imported one would show it. They come on top of what
this environment has installed (the four first-party distributions, the example
and the broken fixture: about 45 cogs more).

Measured in one run, each command as a fresh process, rounds interleaved:

* ``python -c pass``: the interpreter's start-up, the floor of any command;
* ``pytest --version``: a plugin host's start-up, with its plugins (hypothesis here);
* ``deadbeat cogs --json`` (the ``deadbeat`` script, as users run it);
* the registry alone: ``CogRegistry().discover()`` and the JSON, without the
  command line's imports (what the listing costs once the other subcommands'
  modules are imported lazily).

Run: ``python bench/plugin_listing.py [--rounds R]``. Prints each round, the
medians and the ratios to ``python -c pass``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DISTRIBUTIONS = 10
COGS_EACH = 5
SLOW_IMPORT = "import time\ntime.sleep(2)\n"


def write_distributions(site: Path) -> None:
    """Write 10 installed distributions of 5 cogs each, with manifests, and their (slow) modules."""
    for d in range(DISTRIBUTIONS):
        name = f"deadbeat-bench-{d}"
        module = f"deadbeat_bench_{d}"
        info = site / f"{module}-1.0.dist-info"
        (info / "extra_metadata").mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nRequires-Dist: deadbeat-core>=0.2,<1\n"
            'Requires-Dist: orjson>=3; extra == "fast"\nProvides-Extra: fast\n'
        )
        cogs = {f"bench{d}.cog{c}": f"{module}:Cog{c}" for c in range(COGS_EACH)}
        (info / "entry_points.txt").write_text("[deadbeat.cogs]\n" + "".join(f"{k} = {v}\n" for k, v in cogs.items()))
        manifest = {k: {"value": v, "summary": f"Benchmark cog {k}."} for k, v in cogs.items()}
        (info / "extra_metadata" / "deadbeat-cogs.json").write_text(json.dumps({"format": 1, "cogs": manifest}))
        (info / "RECORD").write_text("")
        classes = "".join(
            f'class Cog{c}:\n    """Benchmark cog {c}."""\n\n    def __call__(self, data):\n        return (data,)\n\n'
            for c in range(COGS_EACH)
        )
        (site / f"{module}.py").write_text(SLOW_IMPORT + classes)


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{command} failed: {result.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    script = bin_dir / "deadbeat"
    with tempfile.TemporaryDirectory() as directory:
        site = Path(directory)
        write_distributions(site)
        env = {**os.environ, "PYTHONPATH": str(site)}
        env.pop("DEADBEAT_ALLOW", None)
        env.pop("DEADBEAT_STRICT", None)
        listing = subprocess.run([str(script), "cogs", "--json"], env=env, capture_output=True, text=True, check=True)
        cogs = json.loads(listing.stdout)
        ours = [c for c in cogs if c["distribution"].startswith("deadbeat-bench-")]
        assert len(ours) == DISTRIBUTIONS * COGS_EACH and all(c["summary"] for c in ours), ours[:2]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "pytest --version": [sys.executable, "-m", "pytest", "--version"],
            "deadbeat cogs --json": [str(script), "cogs", "--json"],
            "registry alone": [
                sys.executable,
                "-c",
                "import json; from deadbeat.plugins import CogRegistry;"
                " json.dumps([e.as_dict() for e in CogRegistry().discover()])",
            ],
        }
        print(f"{len(cogs)} cogs listed, {len(ours)} of them from the {DISTRIBUTIONS} benchmark distributions")
        times: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(args.rounds):
            line = []
            for name, command in commands.items():
                times[name].append(wall(command, env))
                line.append(f"{name} {times[name][-1] * 1000:.0f} ms")
            print(f"round {round_ + 1}: " + ", ".join(line))
        floor = statistics.median(times["python -c pass"])
        print("\nmedian wall time (ratio to python -c pass):")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:22} {median * 1000:7.1f} ms  {median / floor:5.1f}x")
        target = statistics.median(times["deadbeat cogs --json"]) * 1000
        print(f"\ntarget < 150 ms for deadbeat cogs --json: {'met' if target < 150 else 'NOT met'} ({target:.0f} ms)")


if __name__ == "__main__":
    main()
