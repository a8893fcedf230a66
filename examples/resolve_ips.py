#!/usr/bin/env python3
"""Resolve the addresses in log lines to host names: the developer manual's worked example.

The application follows its input files (as ``tail -F`` does, through
rotation), finds the address each line is about ("from ADDRESS port", "by
ADDRESS port"), asks the DNS for its name without blocking (``dns.reverse``),
and appends each line as JSON, with the address and the name, to the output
file. Its settings come from config files (JSON or TOML) and switches, both
from one definition, as the manual's ``conf`` module gives them. Run it from the
repository's root (the paths of ``resolve_ips.json`` are relative to it)::

    python examples/resolve_ips.py --config examples/resolve_ips.json
    python examples/resolve_ips.py --config examples/resolve_ips.json --dns-servers 127.0.0.1:5353 --once
    python examples/resolve_ips.py --help

``--once`` reads the inputs to their end and exits when every line is written;
without it the application follows them until SIGTERM, and then writes every
line it holds (resolved, or marked "(lookup failed)" when its lookup cannot end
within the timeout) before it exits. ``resolve_ips.toml`` is the same
application as a pipeline file, for ``deadbeat run``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from deadbeat import conf, daemon, dns, fs, log, movement

#: The address a log line is about.
ADDRESS = re.compile(r"\b(?:from|by) ([0-9A-Fa-f:.]*[0-9A-Fa-f]) port\b")

conf_def = conf.cfg_root(
    (
        conf.cfg_base_config,
        log.log_base_config,
        daemon.daemon_base_config,
        conf.cfg_item("input_files", conf.cast_path_list, "Files to follow"),
        conf.cfg_item("output_file", conf.cast_path, "File the lines are appended to; - for standard output", "-"),
        conf.cfg_item("once", conf.cast_boolean, "Read the input files to their end, then exit", False),
        conf.cfg_section(
            "dns",
            (
                conf.cfg_item(
                    "servers",
                    conf.cast_str_list,
                    "Resolvers, ADDRESS or ADDRESS:PORT; none for those of /etc/resolv.conf",
                    [],
                ),
                conf.cfg_item("port", conf.cast_int, "Port of the resolvers given without one", 53),
                conf.cfg_item("timeout", conf.cast_float, "Seconds a lookup waits for its answer", 3.0),
            ),
            "Name resolution",
        ),
    ),
    "Resolve the addresses in log lines to host names",
)


def find_address(data: dict[str, Any]) -> tuple[dict[str, Any]]:
    """Put the address the line is about into ``ip`` (``None`` when it names none).

    A cog in the manual's simplest form: a function taking one datum and
    returning an iterable of data.
    """
    found = ADDRESS.search(data["line"])
    data["ip"] = found.group(1) if found else None
    return (data,)


def as_json(data: dict[str, Any]) -> tuple[str]:
    """The datum as one line of JSON, for the output file."""
    return (json.dumps(data, sort_keys=True, ensure_ascii=False),)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the application. :returns: the exit status (1 when something could not be written)."""
    cfg = conf.gather(typedef=conf_def, name="resolve_ips", description=__doc__.splitlines()[0], argv=argv)
    log.configure(**cfg.log)
    daemon.detach(**cfg.daemon)
    train = movement.Train()
    watcher = fs.FileWatcherSupply(train.esc, filenames=cfg.input_files, tail=not cfg.once, line_setter="line")
    resolver = dns.ReverseLookup(
        train,
        ip_getter=itemgetter("ip"),
        name_setter=movement.itemsetter("hostname"),
        servers=cfg.dns.servers,
        port=cfg.dns.port,
        timeout=cfg.dns.timeout,
        not_found="(no name)",
        failed="(lookup failed)",
    )
    output = fs.LineFileDrain(train.esc, filename=cfg.output_file)
    train.cogs = [watcher, find_address, resolver, as_json, output]
    try:
        train.run()
    finally:
        train.esc.close()
    return 1 if train.esc.failures else 0


if __name__ == "__main__":
    sys.exit(main())
