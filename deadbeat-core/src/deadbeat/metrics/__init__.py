"""Counters, timings and health of a running application, and their Prometheus exposition.

Three layers, each usable alone:

- The Train counts. Always: data in, out and failed per train
  (``events_in``, ``events_out``, ``errors``) and failed per cog
  (``cog_errors``). With ``train.measure = True``: the data given to each cog
  (``passed``) and the time spent in each stage of its generated code
  (``spent``), counted per list where a list is at hand and by one local
  counter per cog and datum elsewhere (``bench/metrics_overhead.py``).
- Cogs report figures of their own through ``counts`` or ``metrics()``
  (:class:`MetricsSource`). :func:`snapshot` reads all of it, in the loop's thread.
- :class:`MetricsServer` serves ``/metrics`` (by ``prometheus-client``, the
  ``deadbeat-core[metrics]`` extra), ``/health`` and ``/ready`` from a thread;
  ``deadbeat run --metrics-port`` starts one.
"""

from ._http import MetricsServer, prometheus_text
from ._snapshot import CogMetrics, MetricsSource, Snapshot, TrainMetrics, reported_by, short_name, snapshot

__all__ = [
    "CogMetrics",
    "MetricsServer",
    "MetricsSource",
    "Snapshot",
    "TrainMetrics",
    "prometheus_text",
    "reported_by",
    "short_name",
    "snapshot",
]
