#!/usr/bin/env bash
# Install every distribution (editable) and the test fixtures into .venv-test, then
# run the linters, the type checker and every test. This is the README's test
# command and what .ci/run runs.
#
# The tests get an environment of their own: the fixtures (a plugin broken on
# purpose, an example cog package) would otherwise show up in the .venv the quick
# start made, as a broken cog in `deadbeat cogs`. DEADBEAT_TEST_VENV names another.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers the tests talk to (logrotate, unbound, logger, curl), when missing.
bash scripts/system-packages.sh

venv="${DEADBEAT_TEST_VENV:-.venv-test}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q \
    -e "./deadbeat-core[test,uvloop]" \
    -e ./deadbeat-cogs-fs \
    -e "./deadbeat-cogs-text[test]" \
    -e "./deadbeat-cogs-ip[test]" \
    -e "./deadbeat-cogs-net[test]" \
    -e ./tests/example-cog \
    -e ./tests/plugins/broken-cog \
    ruff mypy nox sphinx hatchling build twine pytest-xdist

echo "== ruff"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
echo "== mypy"
"$venv/bin/mypy" deadbeat-core/src/deadbeat deadbeat-cogs-fs/src/deadbeat deadbeat-cogs-text/src/deadbeat \
    deadbeat-cogs-ip/src/deadbeat deadbeat-cogs-net/src/deadbeat
echo "== pytest"
# Two processes by default: most tests wait on real peers (brokers, rotations,
# signals) rather than compute, so the suite takes a third of the time it takes
# alone. DEADBEAT_TEST_WORKERS=0 runs it in this one process.
"$venv/bin/python" -m pytest -n "${DEADBEAT_TEST_WORKERS:-2}" --durations=30 "$@"
