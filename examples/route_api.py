"""Routing from Python: the pipeline of route.toml with two of its routes.

Severe events go to alerts.jsonl, the others to the default route's
rest.jsonl, in the directory ROUTE_OUT (this file's directory when unset):

    ROUTE_OUT=/tmp python examples/route_api.py
"""

import os
import sys

from deadbeat import fs, movement, routing, text

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    """Run the routing pipeline. :returns: the exit status (1 when the run had a failure it could not make good)."""
    out = os.environ.get("ROUTE_OUT", HERE)
    esc = movement.Escapement()
    train = movement.Train(esc)
    alerts = routing.Route("alerts", when="severity >= 5", esc=esc)
    alerts.cogs = [
        text.JSONFormat(sort_keys=True),
        fs.LineFileDrain(alerts.train.esc, os.path.join(out, "alerts.jsonl")),
    ]
    rest = routing.Route("rest", esc=esc)  # no condition: the default route
    rest.cogs = [text.JSONFormat(sort_keys=True), fs.LineFileDrain(rest.train.esc, os.path.join(out, "rest.jsonl"))]
    train.cogs = [
        fs.FileWatcherSupply(esc, [os.path.join(HERE, "data", "route_events.jsonl")], tail=False),
        text.JSONParse(),
        routing.Router(train, [alerts, rest]),
    ]
    return esc.run()


if __name__ == "__main__":
    sys.exit(main())
