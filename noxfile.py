"""Test sessions: one per distribution against its built wheel, one with everything.

Each distribution session builds the wheels it needs (never an editable install,
so packaging mistakes such as a missing file or a stray ``deadbeat/__init__.py``
show up) and runs that distribution's tests. ``all`` installs every wheel together
and runs the whole suite; ``docs`` builds the documentation the way CI checks it;
``bench`` runs the benchmarks.

    nox -s core fs text ip net all docs bench
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
FIXTURES = ["tests/example-cog", "tests/plugins/broken-cog"]
DISTRIBUTIONS = {
    "core": "deadbeat-core",
    "fs": "deadbeat-cogs-fs",
    "text": "deadbeat-cogs-text",
    "ip": "deadbeat-cogs-ip",
    "net": "deadbeat-cogs-net",
}

nox.options.sessions = [*DISTRIBUTIONS, "all"]
nox.options.reuse_existing_virtualenvs = False


def install_wheels(session: nox.Session, *directories: str) -> None:
    """Build a wheel of each directory and install them all, without editable mode."""
    wheelhouse = Path(session.create_tmp()) / "wheels"
    for directory in directories:
        session.run("pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheelhouse), str(ROOT / directory))
    # With each distribution's test extra: the ip tests compare with yacryptopan.
    wheels = sorted(f"{w}[test]" for w in wheelhouse.glob("*.whl"))
    session.install(*wheels, "pytest", "hypothesis")


def distribution_session(short: str, directory: str) -> None:
    @nox.session(name=short)
    def run(session: nox.Session) -> None:
        needs = ["deadbeat-core", *FIXTURES] if directory == "deadbeat-core" else ["deadbeat-core", directory]
        install_wheels(session, *dict.fromkeys(needs))
        session.run(
            "pytest", "-p", "no:cacheprovider", "--import-mode=importlib", f"{directory}/tests", *session.posargs
        )

    run.__doc__ = f"Test {directory} from its built wheel."


for _short, _directory in DISTRIBUTIONS.items():
    distribution_session(_short, _directory)


@nox.session(name="all")
def all_together(session: nox.Session) -> None:
    """Every distribution's wheel installed together, the whole suite."""
    install_wheels(session, *DISTRIBUTIONS.values(), *FIXTURES)
    # tests/test_docs.py builds the documentation; tests/test_typing.py builds wheels and runs mypy;
    # tests/test_distributions.py and tests/test_tutorial.py build sdists and wheels and check them.
    session.install("sphinx", "mypy", "hatchling", "build", "twine")
    session.run("pytest", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML documentation into docs/_build/html; every reference must resolve, a warning fails it.

    The distributions are installed from their wheels, as users get them;
    ``nox -s docs -- -E`` passes further options to sphinx-build.
    """
    install_wheels(session, *DISTRIBUTIONS.values())
    session.install("sphinx")
    output = ROOT / "docs" / "_build" / "html"
    session.run("sphinx-build", "-n", "-W", "--keep-going", "-b", "html", *session.posargs, "docs", str(output))
    session.log(f"open {output / 'index.html'}")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks of the core and of the default path, against built wheels.

    ``nox -s bench``: the Train against the hand-written loop, then T1 (the job
    operators run, ``deadbeat run`` against the orjson loop and rsyslog).
    The other benchmarks in ``bench/`` each say how to run them.
    """
    install_wheels(session, *DISTRIBUTIONS.values())
    session.run("python", "bench/train_vs_loop.py", *session.posargs)
    session.run("python", "bench/t1_default_path.py", "--rounds", "3")
